import os, csv, bisect, collections, itertools, statistics, sys
edges={'AGEP':[0,5,10,15,20,25,30,35,40,45,50,55,60,65,70,75,80,85,90,95],
'PINCP':[0,20000,40000,60000,80000,100000,120000,140000,160000,180000,200000,220000,240000,260000,280000],
'POVPIP':list(range(0,501,20)),
'DENSITY':[150.0,309.7,475.6,730.5,1122.0,1723.3,2646.8,4065.2,6243.7,9589.7,14728.8,22621.9,34744.9],
'PWGTP':[1,10,20,30,40,50,60,80,100,150,200,300,500,1000]}
def load(f):
    rows=[]
    for r in csv.DictReader(open(f)):
        o={}
        for k,v in r.items():
            if k=='INDP': continue
            if k in edges and v!='N':
                o[k]=bisect.bisect_right(edges[k], float(v))
            else: o[k]=v
        rows.append(o)
    return rows
def l1(a,b,cols):
    ca=collections.Counter(tuple(r[c] for c in cols) for r in a); cb=collections.Counter(tuple(r[c] for c in cols) for r in b)
    na,nb=len(a),len(b)
    return sum(abs(ca[k]/na-cb[k]/nb) for k in set(ca)|set(cb))
real=load(os.environ.get('DATA', '/work/shared/data') + '/nist_crc/national2019.csv'); cols=list(real[0].keys())
pairs=[p for p in itertools.combinations(cols,2) if p[0] in edges or p[1] in edges]
print(len(pairs),'pairs involving', list(edges))
for v in sys.argv[1:]:
    per=[]
    bycol={c:[] for c in edges}
    one={c:[] for c in edges}
    for s in range(21,26):
        syn=load(f'bins-{v}-{s}/synthetic.csv')
        vals={p:l1(real,syn,p) for p in pairs}
        per.append(statistics.fmean(vals.values()))
        for c in edges: one[c].append(l1(real, syn, (c,)))
        for c in edges: bycol[c].append(statistics.fmean(x for p,x in vals.items() if c in p))
    print(v, 'mean 2-way L1 over runs', ' '.join('%.4f'%x for x in per), 'mean %.4f'%statistics.fmean(per), ' by column:', ' '.join('%s %.4f'%(c,statistics.fmean(x)) for c,x in bycol.items()))
    print(v, '1-way L1 at these bins:', ' '.join('%s %.4f'%(c,statistics.fmean(x)) for c,x in one.items()))
