/// Softmax and log-softmax over the last axis. −∞ inputs are allowed (masked entries); a row that is
/// entirely −∞ yields zeros (softmax) / −∞ (log-softmax) and passes no gradient.
extension Graph {
  public func softmax(_ x: Var) -> Var {
    let d = x.shape.last!, rows = x.value.count / d
    let y = Tensor(uninitialized: x.shape)
    softmaxRows(x.value.pointer, y.pointer, rows: rows, cols: d, log: false)
    return record(y, x) { g, dy in
      // dx = y ⊙ (dy − Σ dy⊙y)
      let dx = Tensor(uninitialized: x.shape)
      let yp = y.pointer, dyp = dy.pointer, dxp = dx.pointer
      Parallel.forRange(rows, grain: max(1, 8192 / d)) { range in
        for r in range {
          let o = r * d
          let s = dotVec(d, dyp + o, yp + o)
          mapVec2(d, dyp + o, yp + o, dxp + o) { ($0 - s) * $1 }
        }
      }
      g.accumulate(x, dx, owned: true)
    }
  }

  public func logSoftmax(_ x: Var) -> Var {
    let d = x.shape.last!, rows = x.value.count / d
    let y = Tensor(uninitialized: x.shape)
    softmaxRows(x.value.pointer, y.pointer, rows: rows, cols: d, log: true)
    return record(y, x) { g, dy in
      // dx = dy − softmax(x)·Σ dy
      let dx = Tensor(uninitialized: x.shape)
      let yp = y.pointer, dyp = dy.pointer, dxp = dx.pointer
      Parallel.forRange(rows, grain: max(1, 8192 / d)) { range in
        for r in range {
          let o = r * d
          let s = sumVec(d, dyp + o)
          let sv = Vec(repeating: s)
          mapVec2(d, dyp + o, yp + o, dxp + o) { dyv, lv in
            var e = vexp(lv)
            e.replace(with: 0, where: lv .== -.infinity)
            return dyv - e * sv
          }
        }
      }
      g.accumulate(x, dx, owned: true)
    }
  }
}

/// Row-wise (log-)softmax of a [rows, cols] matrix into `y` (may alias x).
func softmaxRows(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, log: Bool) {
  Parallel.forRange(rows, grain: max(1, 8192 / cols)) { range in
    for r in range { softmaxRow(x + r * cols, y + r * cols, cols, log: log) }
  }
}

/// y = exp(x − max x) over one row of n (y may alias x), returning 1 / Σ y (0 for a row that is
/// entirely −∞, which becomes zeros): softmax without its normalising pass, for a caller that scales
/// a narrower product of the row instead (inference attention scales the 64-wide head output).
@inline(__always)
func unnormalizedSoftmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
  let m = maxVec(n, x)
  if m == -.infinity {
    y.update(repeating: 0, count: n)
    return 0
  }
  let mv = Vec(repeating: m)
  var acc = Vec(), i = 0
  while i + 16 <= n { let e = vexp(loadVec(x + i) - mv); storeVec(e, y + i); acc += e; i += 16 }
  var s = acc.sum()
  if i < n {
    let e = vexp(loadPartial(x + i, n - i, fill: -.infinity) - mv)
    storePartial(e, y + i, n - i)
    s += e.sum()
  }
  return 1 / s
}

@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, log: Bool) {
  if !log {
    let inv = Vec(repeating: unnormalizedSoftmaxRow(x, y, n))
    mapVec(n, y, y) { $0 * inv }
    return
  }
  let m = maxVec(n, x)
  if m == -.infinity {
    y.update(repeating: -.infinity, count: n)
    return
  }
  let mv = Vec(repeating: m)
  var acc = Vec(), i = 0
  while i + 16 <= n { acc += vexp(loadVec(x + i) - mv); i += 16 }
  var s = acc.sum()
  if i < n { s += vexp(loadPartial(x + i, n - i, fill: -.infinity) - mv).sum() }
  let lv = Vec(repeating: m + Foundation.log(s))
  mapVec(n, x, y) { $0 - lv }
}

import Foundation
