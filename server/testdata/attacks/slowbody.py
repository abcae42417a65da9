# Issue 9.4 before/after: N connections send a POST body at one byte a second (body_read_timeout 5s via env);
# prints how many are still open after S seconds, what they were answered, /health and RSS.
# usage: python3 slowbody.py <mfn binary> <port> <connections> <seconds>
import socket, sys, time, subprocess, os, signal
binpath, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
env = dict(os.environ, MFN_HTTP_ADDR="127.0.0.1:%d" % port, MFN_LOG_LEVEL="critical", MFN_SERVER_BODY_READ_TIMEOUT="5s")
p = subprocess.Popen([binpath, "serve"], env=env)
time.sleep(1.0)
def rss():
    for l in open("/proc/%d/status" % p.pid):
        if l.startswith("VmRSS"): return int(l.split()[1])//1024
socks = []
for i in range(n):
    s = socket.socket(); s.bind(("127.0.0.%d" % (2 + i % 4), 0)); s.settimeout(2)
    s.connect(("127.0.0.1", port))
    s.sendall(b"POST /nernst HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    socks.append(s)
open_ = set(range(n)); answers = {}
lat = []
for t in range(secs):
    for i in list(open_):
        s = socks[i]
        try:
            s.setblocking(False)
            try:
                d = s.recv(4096)
                if d:
                    answers[d.split(b"\r\n")[0]] = answers.get(d.split(b"\r\n")[0], 0) + 1
                open_.discard(i); continue
            except BlockingIOError:
                pass
            s.send(b" ")
        except Exception:
            open_.discard(i)
    r = subprocess.run(["curl", "-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "http://127.0.0.1:%d/health" % port], capture_output=True, text=True)
    lat.append(r.stdout)
    time.sleep(1)
print("after %ds: %d of %d slow-body connections still open; answers %s; /health %s; server RSS %d MiB" % (secs, len(open_), n, answers, sorted(lat)[len(lat)//2], rss()))
p.send_signal(signal.SIGTERM)
try: p.wait(timeout=30)
except Exception: p.kill()
