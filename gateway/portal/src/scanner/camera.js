// Reading a QR code (or barcode) from the device's camera: the browser's BarcodeDetector where it
// has one that reads QR, else jsQR (bundled with the portal, loaded on first use) on video frames.
const FORMATS = ["qr_code", "code_128", "ean_13", "ean_8", "upc_a", "data_matrix", "aztec", "pdf417"];

async function nativeDetector() {
  if (!("BarcodeDetector" in window)) return null;
  try {
    const supported = await window.BarcodeDetector.getSupportedFormats();
    if (!supported.includes("qr_code")) return null;
    const detector = new window.BarcodeDetector({ formats: FORMATS.filter((f) => supported.includes(f)) });
    return async (video) => (await detector.detect(video))[0]?.rawValue || null;
  } catch (e) { return null; }
}

async function jsqrDetector() {
  const { default: jsQR } = await import("jsqr");
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  return async (video) => {
    const w = video.videoWidth, hgt = video.videoHeight;
    if (!w || !hgt) return null;
    const scale = Math.min(1, 800 / Math.max(w, hgt));
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(hgt * scale);
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
    return jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" })?.data || null;
  };
}

export const cameraAvailable = () => !!navigator.mediaDevices?.getUserMedia;

// starts the camera in `video`; calls onText(text) once with the first code read, then stops
export async function startScanner(video, onText) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false });
  let stopped = false;
  const stop = () => {
    stopped = true;
    stream.getTracks().forEach((t) => t.stop());
    video.srcObject = null;
  };
  try {
    video.srcObject = stream;
    video.muted = true;
    video.setAttribute("playsinline", "");
    await video.play();
    const detect = (await nativeDetector()) || (await jsqrDetector());
    const tick = async () => {
      if (stopped) return;
      let text = null;
      try { text = await detect(video); } catch (e) { text = null; }
      if (stopped) return;
      if (text) { stop(); onText(text); } else setTimeout(tick, 120);
    };
    tick();
  } catch (e) { stop(); throw e; }
  return { stop, engine: "BarcodeDetector" in window ? "native-or-jsqr" : "jsqr" };
}
