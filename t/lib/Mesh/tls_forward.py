# A TLS front for a plain TCP server (t/040): accepts TLS on 127.0.0.1
# with the given certificate and key, and pipes each connection both ways
# to 127.0.0.1:TARGET.  Usage: tls_forward.py LISTEN TARGET CERT KEY
import asyncio
import ssl
import sys

listen, target, cert, key = int(sys.argv[1]), int(sys.argv[2]), \
    sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)


async def pipe(r, w):
    try:
        while True:
            data = await r.read(65536)
            if not data:
                break
            w.write(data)
            await w.drain()
    except Exception:
        pass
    finally:
        try:
            w.close()
        except Exception:
            pass


async def handle(r, w):
    try:
        r2, w2 = await asyncio.open_connection('127.0.0.1', target)
    except Exception:
        w.close()
        return
    await asyncio.gather(pipe(r, w2), pipe(r2, w))


async def main():
    server = await asyncio.start_server(handle, '127.0.0.1', listen,
                                        ssl=ctx)
    print(f'listening on {listen}', flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
