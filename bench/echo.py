"""Raw pipe round trip for the bridge benchmark: read one length-prefixed frame from stdin,
answer with a frame of argv[1] body bytes. No decoding, no env: the floor the bridge is compared to."""
import struct
import sys

reply_len = int(sys.argv[1])
reply = struct.pack("<I", reply_len) + b"\0" * reply_len
inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    (n,) = struct.unpack("<I", head)
    inp.read(n)
    out.write(reply)
    out.flush()
