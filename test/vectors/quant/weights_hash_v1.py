"""An independent implementation of slalom's canonical model serialization, version 1
(src/quant/content-hash.ts, module comment), written from its specification, for the known-answer
case of test/quant/content-hash.test.ts. Run: python3 test/vectors/quant/weights_hash_v1.py"""
import hashlib
import struct

h = hashlib.sha256()


def u64(n):
    h.update(struct.pack('<Q', n))


def value(v):
    if v is None:
        h.update(b'\x00')
    elif v is True:
        h.update(b'\x02')
    elif v is False:
        h.update(b'\x01')
    elif isinstance(v, (int, float)):
        h.update(b'\x03' + struct.pack('<d', float(v)))
    elif isinstance(v, str):
        b = v.encode('utf8')
        h.update(b'\x04')
        u64(len(b))
        h.update(b)
    elif isinstance(v, list):
        h.update(b'\x05')
        u64(len(v))
        for e in v:
            value(e)
    elif isinstance(v, dict):
        items = sorted(v.items())  # ASCII keys: code-point order is UTF-16 code-unit order
        h.update(b'\x06')
        u64(len(items))
        for k, e in items:
            value(k)
            value(e)
    else:
        raise TypeError(v)


def typed(name, fmt, xs):
    h.update(b'\x07')
    value(name)
    u64(len(xs))
    h.update(struct.pack('<%d%s' % (len(xs), fmt), *xs))


# The graph of the test: x [1, 2] -> Gemm 'fc' (w̃ 2x3, b̃) -> y -> Add 'add' (constant k) -> z.
value('slalom weights hash v1')
value([['x', [1, 2]]])  # inputs
value(['z'])  # outputs
value([['fc', 'Gemm', ['x', 'fc.w', 'fc.b'], ['y'], {'alpha': 1, 'transB': 0}],
       ['add', 'Add', ['y', 'k'], ['z'], {}]])  # nodes, in graph order
value([['x', [1, 2]], ['y', [1, 3]], ['z', [1, 3]]])  # dims, by name
value(['k', [3]])  # constants, by name
typed('Float64Array', 'd', [0.5, -0.0, 2.0])
value({'index': 0, 'name': 'fc', 'op': 'Gemm', 'wDims': [2, 3], 'inDims': [1, 2], 'outDims': [1, 3], 'lx': 4, 'lw': 5,
       'weightRowL1': 10, 'maxAbsBias': 9, 'macs': 6, 'stats': {'maxAbsIn': 1.5, 'maxAbsOut': 2.25}})  # layer fields
value([2, 3])  # weight dims
typed('Int32Array', 'i', [1, -2, 3, -4, 5, -6])  # w̃
typed('Float64Array', 'd', [7.0, 8.0, -9.0])  # b̃
print(h.hexdigest())
