#!/usr/bin/env bash
# TLS and mTLS for dispatcher serve with openssl: a private CA, a server certificate and a
# client certificate, all in DIR (default ./tls).
#   deploy/config/make-certs.sh DIR [SERVER_NAME...]     (names default: localhost 127.0.0.1)
#
# Server (dispatch.toml, or the same --tls-* flags):
#   tls_cert = "DIR/server.crt"
#   tls_key  = "DIR/server.key"
#   tls_ca   = "DIR/ca.crt"        # only for mTLS: clients must present a cert signed by it
# Clients:
#   dispatcher health --target localhost:50051 --tls-ca DIR/ca.crt \
#       --tls-cert DIR/client.crt --tls-key DIR/client.key
#   grpcurl -cacert DIR/ca.crt -cert DIR/client.crt -key DIR/client.key \
#       localhost:50051 grpc.health.v1.Health/Check
#   Python: grpc.secure_channel("localhost:50051", grpc.ssl_channel_credentials(
#       root_certificates=ca, private_key=client_key, certificate_chain=client_crt))
# tests/deploy runs this script and serves mTLS with its output. Keys are written mode 0600.
set -euo pipefail

dir="${1:-tls}"
shift || true
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(localhost 127.0.0.1)
days="${DAYS:-365}"

san=""
for name in "${names[@]}"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then san+="IP:$name,"; else san+="DNS:$name,"; fi
done
san="${san%,}"

mkdir -p "$dir"
cd "$dir"
umask 077

# 1. the CA (keep ca.key offline in production)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout ca.key -out ca.crt -days "$days" -subj "/CN=dispatch-optimizer test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null

# 2. the server certificate, for every name clients connect to
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout server.key -out server.csr -subj "/CN=${names[0]}" 2>/dev/null
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out server.crt -days "$days" \
  -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san") 2>/dev/null

# 3. a client certificate (mTLS): one per calling system
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout client.key -out client.csr -subj "/CN=dispatch-client" 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out client.crt -days "$days" \
  -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null

rm -f server.csr client.csr ca.srl
chmod 0644 ca.crt server.crt client.crt
echo "wrote $(pwd)/{ca,server,client}.{crt,key} for ${names[*]}"
