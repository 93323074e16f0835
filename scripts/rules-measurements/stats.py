# Real vs synthetic mean, sd, percentiles of a skewed numeric column; "before" = the same
# synthetic bins redrawn uniformly within each bin (dpsynth's decoding before #14).
import csv, sys, random, statistics, bisect
def load(path, col):
    out=[]
    for r in csv.DictReader(open(path)):
        v=r[col]
        try: out.append(float(v))
        except ValueError: pass
    return out
def pct(xs, q):
    xs=sorted(xs); k=(len(xs)-1)*q; f=int(k); c=min(f+1,len(xs)-1)
    return xs[f]+(xs[c]-xs[f])*(k-f)
def summ(xs):
    return "mean %10.2f sd %10.2f p50 %10.2f p90 %10.2f p99 %10.2f p99.9 %10.2f max %10.2f" % (
        statistics.fmean(xs), statistics.pstdev(xs), pct(xs,.5), pct(xs,.9), pct(xs,.99), pct(xs,.999), max(xs))
def uniform(xs, lo, hi, edges, integer):
    b=[lo]+edges+[hi]; rnd=random.Random(0); out=[]
    for x in xs:
        i=bisect.bisect_right(b, x)-1; i=min(max(i,0),len(b)-2)
        a, z = b[i], b[i+1]
        if integer: out.append(rnd.randint(int(a), int(z)-1 if i < len(b)-2 else int(z)))
        else: out.append(rnd.uniform(a, z))
    return out
col, real, lo, hi, integer = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]=='int'
edges=[float(e) for e in sys.argv[6].split(',')]
r=load(real,col); print("real                ", summ(r))
for s in sys.argv[7:]:
    xs=load(s,col)
    print("after  %-14s" % s.split('/')[-2][:14], summ(xs), " sd ratio %.2f" % (statistics.pstdev(xs)/statistics.pstdev(r)))
    u=uniform(xs, lo, hi, edges, integer)
    print("before %-14s" % s.split('/')[-2][:14], summ(u), " sd ratio %.2f" % (statistics.pstdev(u)/statistics.pstdev(r)))
