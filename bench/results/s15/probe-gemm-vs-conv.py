# Probe: weight-streaming convs at small spatial size, cuDNN conv (channels-last) vs a GEMM on an im2col'd input.
import torch, torch.nn.functional as F
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
torch.backends.cudnn.benchmark = True
print(torch.cuda.get_device_name(), torch.__version__, torch.backends.cudnn.version())
def timeit(fn, it=100):
    for _ in range(10): fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(True), torch.cuda.Event(True)
    s.record()
    for _ in range(it): fn()
    e.record(); torch.cuda.synchronize()
    return s.elapsed_time(e) / it * 1000
for dt in (torch.float32, torch.float16):
  for (n, cin, cout, hw) in [(1,1280,1280,8), (1,2560,1280,8), (1,640,1280,8), (1,1280,1280,16), (1,1920,640,16), (1,640,640,32), (1,960,320,32), (2,1280,1280,8), (8,1280,1280,8)]:
    ws = [torch.randn(cout, cin, 3, 3, device="cuda", dtype=dt).to(memory_format=torch.channels_last) for _ in range(3)]
    x = torch.randn(n, cin, hw, hw, device="cuda", dtype=dt).to(memory_format=torch.channels_last)
    i = [0]
    def conv():
        i[0] = (i[0] + 1) % 3
        return F.conv2d(x, ws[i[0]], padding=1)
    wm = [w.permute(0, 2, 3, 1).reshape(cout, -1).contiguous() for w in ws]  # [Cout, 9*Cin] (KRSC)
    col = torch.randn(n * hw * hw, 9 * cin, device="cuda", dtype=dt)
    def gemm():
        i[0] = (i[0] + 1) % 3
        return torch.matmul(col, wm[i[0]].t())
    xn = x.contiguous(memory_format=torch.channels_last)
    def unfold():
        return F.unfold(x, 3, padding=1)
    tc, tg, tu = timeit(conv), timeit(gemm), timeit(unfold)
    wb = cout * cin * 9 * x.element_size()
    print(f"{str(dt)[6:]:8s} n{n} {cin}->{cout} {hw}x{hw}: conv {tc:6.1f} us ({wb/tc/1e6:4.2f} TB/s)  gemm {tg:6.1f} us ({wb/tg/1e6:4.2f} TB/s)  unfold(nchw) {tu:5.1f} us")
