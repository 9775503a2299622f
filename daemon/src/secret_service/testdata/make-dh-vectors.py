# Derives the DH session vectors independently of the Rust code: Python
# integers for the group, hmac/hashlib for HKDF, `cryptography` for AES.
import hashlib, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives import padding
P = int("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF", 16)
def priv(seed):
    out=b""; i=0
    while len(out)<128:
        out+=hashlib.sha256(f"{seed}/{i}".encode()).digest(); i+=1
    return int.from_bytes(out[:128],"big")
def b(n): return n.to_bytes((n.bit_length()+7)//8 or 1,"big")
def hkdf(ikm):
    prk=hmac.new(b"\0"*32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, b"\x01", hashlib.sha256).digest()[:16]
def aes(key, iv, pt):
    p=padding.PKCS7(128).padder(); data=p.update(pt)+p.finalize()
    e=Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return e.update(data)+e.finalize()
def vec(name, sa, sb, pt):
    a=priv(sa); bb=priv(sb)
    A=pow(2,a,P); B=pow(2,bb,P)
    s=pow(B,a,P); assert s==pow(A,bb,P)
    sh=s.to_bytes(128,"big")
    key=hkdf(sh)
    iv=hashlib.sha256(("iv"+name).encode()).digest()[:16]
    ct=aes(key,iv,pt)
    print(f"name: {name}\na_private: {a.to_bytes(128,'big').hex()}\nb_private: {bb.to_bytes(128,'big').hex()}")
    print(f"a_public: {b(A).hex()}\nb_public: {b(B).hex()}\nshared: {sh.hex()}\naes_key: {key.hex()}\niv: {iv.hex()}\nplaintext: {pt.hex()}\nciphertext: {ct.hex()}\n")
print("# dh-ietf1024-sha256-aes128-cbc-pkcs7 vectors, derived with Python's integers,")
print("# hmac/hashlib (HKDF-SHA256, no salt, empty info) and the `cryptography`")
print("# package (AES-128-CBC, PKCS#7). Private keys are SHA-256 expansions of a seed.")
print("# expect: both sides derive `aes_key`; `plaintext` under `iv` encrypts to `ciphertext`.")
print("# `shared` is the 128-byte left-padded secret fed to HKDF.\n")
vec("short-password", "alice-1", "bob-1", b"hunter2")
vec("block-sized", "alice-2", "bob-2", b"0123456789abcdef")
vec("empty", "alice-3", "bob-3", b"")
# one whose shared secret has a leading zero byte (padding matters)
i=0
while True:
    a=priv(f"alice-z{i}"); bb=priv(f"bob-z{i}")
    if pow(pow(2,bb,P),a,P) < 2**1016: break
    i+=1
vec("leading-zero-shared", f"alice-z{i}", f"bob-z{i}", "pässwörd ✓".encode())
