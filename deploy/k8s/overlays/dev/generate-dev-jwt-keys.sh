#!/bin/sh
# Writes a throwaway Ed25519 JWT key pair for the dev overlay to jwt-keys/
# (git-ignored). Never use these keys outside a dev cluster.
set -eu
cd "$(dirname "$0")"
mkdir -p jwt-keys
if [ -s jwt-keys/jwt-private-key.pem ]; then
    echo "jwt-keys/ already holds a key pair; delete it to make a new one" >&2
    exit 0
fi
umask 077
openssl genpkey -algorithm ed25519 -out jwt-keys/jwt-private-key.pem
openssl pkey -in jwt-keys/jwt-private-key.pem -pubout -out jwt-keys/jwt-public-key.pem
echo "wrote $(pwd)/jwt-keys/jwt-private-key.pem and jwt-public-key.pem"
