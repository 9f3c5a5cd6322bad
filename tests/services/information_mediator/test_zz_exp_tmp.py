import statistics, time, subprocess, sys, textwrap
from tests.services.information_mediator.test_admin_refusals import _mediated_latencies

ATTACK = textwrap.dedent('''
import sys, time, httpx
from concurrent.futures import ThreadPoolExecutor
url, path, method = sys.argv[1], sys.argv[2], sys.argv[3]
body = b'{"domain": "x", "pad": "' + b"p" * 4000 + b'"}'
def one(http, i):
    return http.request(method, path, content=body if method != "GET" else None, headers={"Authorization": "Bearer guess"})
with httpx.Client(base_url=url, timeout=30) as http, ThreadPoolExecutor(4) as pool:
    codes = list(pool.map(lambda i: one(http, i).status_code, range(3000)))
print(sorted(set(codes)))
''')

def p50(stack):
    return min(statistics.median(_mediated_latencies(stack, 30)) for _ in range(3))

def test_exp(stack):
    quiet = p50(stack)
    for path, method in [("/api/v1/config", "PUT"), ("/health", "GET"), ("/nope", "GET"), ("/api/v1/config", "PUT")]:
        p = subprocess.Popen([sys.executable, "-c", ATTACK, stack.im.url, path, method])
        time.sleep(0.5)
        loud = p50(stack)
        running = p.poll() is None
        p.wait()
        print(f"\n{method} {path}: quiet {quiet*1000:.1f} loud {loud*1000:.1f} running {running}")
