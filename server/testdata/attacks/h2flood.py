# Issue 9.3 before/after: N connections send the HTTP/2 preface, SETTINGS, then DATA frames for S seconds;
# prints how many the server closed, its RSS start/peak/after and /health samples.
# usage: python3 h2flood.py <mfn binary> <port> <connections> <seconds>
import socket, sys, time, subprocess, os, signal, threading, struct
binpath, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
env = dict(os.environ, MFN_HTTP_ADDR="127.0.0.1:%d" % port, MFN_LOG_LEVEL="critical")
p = subprocess.Popen([binpath, "serve"], env=env)
time.sleep(1.0)
def rss():
    for l in open("/proc/%d/status" % p.pid):
        if l.startswith("VmRSS"): return int(l.split()[1])//1024
def hwm():
    for l in open("/proc/%d/status" % p.pid):
        if l.startswith("VmHWM"): return int(l.split()[1])//1024
base = rss()
data = struct.pack(">I", 16384)[1:] + bytes([0, 0]) + struct.pack(">I", 1) + b"a"*16384
stop = time.time() + secs
sent = [0]*n; closed = [False]*n
def flood(i):
    s = socket.socket(); s.connect(("127.0.0.1", port))
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0,0,0,4,0,0,0,0,0]))
    try:
        while time.time() < stop:
            s.sendall(data); sent[i] += len(data)
    except Exception:
        closed[i] = True
ts = [threading.Thread(target=flood, args=(i,)) for i in range(n)]
[t.start() for t in ts]
lat = []
while time.time() < stop:
    r = subprocess.run(["curl", "-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code}/%{time_total}", "http://127.0.0.1:%d/health" % port], capture_output=True, text=True)
    lat.append(r.stdout); time.sleep(0.3)
[t.join() for t in ts]
print("%d conns flooding DATA for %.0fs: %d closed by the server, %d MiB sent; server RSS start %d MiB, peak %d MiB, after %d MiB; /health samples %s" % (n, secs, sum(closed), sum(sent)>>20, base, hwm(), rss(), lat[:3]))
p.send_signal(signal.SIGTERM)
try: p.wait(timeout=30)
except Exception: p.kill()
