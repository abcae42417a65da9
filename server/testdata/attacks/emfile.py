# Issue 9.4 (EMFILE) before/after: the server runs with RLIMIT_NOFILE 64 and 100 silent sockets;
# prints its CPU use and whether /health answers.
# usage: python3 emfile.py <mfn binary> <port>
import socket, sys, time, subprocess, os, signal
binpath, port = sys.argv[1], int(sys.argv[2])
env = dict(os.environ, MFN_HTTP_ADDR="127.0.0.1:%d" % port, MFN_LOG_LEVEL="critical")
p = subprocess.Popen(["prlimit", "--nofile=64:64", binpath, "serve"], env=env)
time.sleep(1.0)
def cpu():
    f = open("/proc/%d/stat" % p.pid).read().split(")")[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
socks = []
for i in range(100):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\0"*8)
    s.bind(("127.0.0.2", 0)); s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port)); socks.append(s)
    except Exception as e:
        pass
r = subprocess.run(["curl", "-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "http://127.0.0.1:%d/health" % port], capture_output=True, text=True)
print("/health while they are open:", r.stdout or "no answer")
c0, t0 = cpu(), time.time()
time.sleep(3)
c1, t1 = cpu(), time.time()
print("cpu use while 100 silent sockets are open: %.0f%% of a core" % (100*(c1-c0)/(t1-t0)))
for s in socks: s.close()
# after the sniff timeout (5 s) every slot is free again
t = time.time(); ok = False
while time.time() - t < 10:
    try:
        r = subprocess.run(["curl", "-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:%d/health" % port], capture_output=True, text=True)
        if r.stdout == "200": ok = True; break
    except Exception: pass
    time.sleep(0.2)
print("/health after closing them: %s within %.1fs" % ("200" if ok else "no answer", time.time()-t))
p.send_signal(signal.SIGTERM); p.wait(timeout=30)
