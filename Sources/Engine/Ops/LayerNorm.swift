/// Layer normalisation over the last axis, fused with the adaLN modulation that always follows it
/// in these networks:  z = (x − μ)/√(σ² + eps) · w (+ b);  y = z·(1 + scale[i]) + shift[i],
/// where i is the batch item of the row (x [items, rows, D] or [items·rows, D]; shift/scale
/// [items, D]). Without shift/scale it is a plain LayerNorm.
extension Graph {
  public func layerNorm(_ x: Var, weight: Var, bias: Var? = nil, eps: Float = 1e-5,
                        shift: Var? = nil, scale: Var? = nil) -> Var {
    let d = x.shape.last!
    precondition(weight.shape == [d], "layerNorm: weight \(weight.shape) for features \(d)")
    if let bias { precondition(bias.shape == [d], "layerNorm: bias \(bias.shape)") }
    precondition((shift == nil) == (scale == nil), "layerNorm: shift and scale come together")
    let rows = x.value.count / d
    let items = shift?.shape[0] ?? 1
    if let shift, let scale {
      precondition(shift.shape == [items, d] && scale.shape == [items, d] && rows % items == 0,
                   "layerNorm: modulation \(shift.shape)/\(scale.shape) for x \(x.shape)")
    }
    let rowsPerItem = rows / items
    let y = Tensor(uninitialized: x.shape)
    let stats = Tensor(uninitialized: [rows, 2])  // mean, 1/std per row
    let xp = x.value.pointer, yp = y.pointer, sp = stats.pointer, wp = weight.value.pointer
    let bp = bias?.value.pointer, shp = shift?.value.pointer, scp = scale?.value.pointer
    Parallel.forRange(rows, grain: max(1, 8192 / d)) { range in
      for r in range {
        let xr = xp + r * d, yr = yp + r * d
        let mean = sumVec(d, xr) / Float(d)
        var acc = Vec(), i = 0
        let mv = Vec(repeating: mean)
        while i + 16 <= d { let c = loadVec(xr + i) - mv; acc += c * c; i += 16 }
        var v = acc.sum()
        while i < d { let c = xr[i] - mean; v += c * c; i += 1 }
        let rstd = 1 / (v / Float(d) + eps).squareRoot()
        sp[2 * r] = mean; sp[2 * r + 1] = rstd
        let item = r / rowsPerItem
        normalizeRow(d, xr, yr, mean, rstd, wp, bp, shp.map { $0 + item * d }, scp.map { $0 + item * d })
      }
    }
    let inputs = [x, weight] + [bias, shift, scale].compactMap { $0 }
    return record(y, inputs: inputs) { g, dy in
      // Pointers are re-derived from captured tensors: a pointer alone does not keep memory alive.
      let dyp = dy.pointer, sp = stats.pointer
      let dx = x.needsGradient ? Tensor(uninitialized: x.shape) : nil
      let dxp = dx?.pointer
      // Per-chunk partial sums for the parameter gradients (rows are split across threads).
      let chunksMax = Parallel.workers
      let partW = Tensor.zeros([chunksMax, d]), partB = Tensor.zeros([chunksMax, d])
      let partShift = Tensor.zeros([chunksMax, items, d]), partScale = Tensor.zeros([chunksMax, items, d])
      let chunks = Parallel.forChunks(rows, grain: max(1, 8192 / d)) { c, range in
        let pw = partW.pointer + c * d, pb = partB.pointer + c * d
        let psh = partShift.pointer + c * items * d, psc = partScale.pointer + c * items * d
        let dz = UnsafeMutablePointer<Float>.allocate(capacity: d)
        defer { dz.deallocate() }
        for r in range {
          let xr = xp + r * d, dyr = dyp + r * d
          let mean = sp[2 * r], rstd = sp[2 * r + 1]
          let item = r / rowsPerItem
          let mv = Vec(repeating: mean), rv = Vec(repeating: rstd)
          // dz = dy·(1+scale); modulation grads use z = x̂·w (+b).
          var i = 0
          var sumDxhat = Vec(), sumDxhatXhat = Vec()
          while i < d {
            let n = min(16, d - i)
            let xv = n == 16 ? loadVec(xr + i) : loadPartial(xr + i, n)
            let dyv = n == 16 ? loadVec(dyr + i) : loadPartial(dyr + i, n)
            let wv = n == 16 ? loadVec(wp + i) : loadPartial(wp + i, n)
            let xhat = (xv - mv) * rv
            var dzv = dyv
            if let scp {
              let scv = n == 16 ? loadVec(scp + item * d + i) : loadPartial(scp + item * d + i, n)
              var z = xhat * wv
              if let bp { z += n == 16 ? loadVec(bp + i) : loadPartial(bp + i, n) }
              let oldSc = n == 16 ? loadVec(psc + item * d + i) : loadPartial(psc + item * d + i, n)
              let oldSh = n == 16 ? loadVec(psh + item * d + i) : loadPartial(psh + item * d + i, n)
              store(oldSc + dyv * z, psc + item * d + i, n)
              store(oldSh + dyv, psh + item * d + i, n)
              dzv = dyv * (1 + scv)
            }
            let oldW = n == 16 ? loadVec(pw + i) : loadPartial(pw + i, n)
            store(oldW + dzv * xhat, pw + i, n)
            if bp != nil {
              let oldB = n == 16 ? loadVec(pb + i) : loadPartial(pb + i, n)
              store(oldB + dzv, pb + i, n)
            }
            let dxhat = dzv * wv
            store(dxhat, dz + i, n)
            sumDxhat += dxhat
            sumDxhatXhat += dxhat * xhat
            i += 16
          }
          if let dxp {
            let m1 = Vec(repeating: sumDxhat.sum() / Float(d))
            let m2 = Vec(repeating: sumDxhatXhat.sum() / Float(d))
            let dxr = dxp + r * d
            i = 0
            while i < d {
              let n = min(16, d - i)
              let xv = n == 16 ? loadVec(xr + i) : loadPartial(xr + i, n)
              let xhat = (xv - mv) * rv
              let dxhat = n == 16 ? loadVec(dz + i) : loadPartial(dz + i, n)
              store(rv * (dxhat - m1 - xhat * m2), dxr + i, n)
              i += 16
            }
          }
        }
      }
      if let dx { g.accumulate(x, dx, owned: true) }
      func reduceChunks(_ part: Tensor, _ width: Int) -> Tensor {
        let out = Tensor.zeros([width])
        for c in 0..<chunks { axpyVec(width, 1, part.pointer + c * width, out.pointer) }
        return out
      }
      g.accumulate(weight, reduceChunks(partW, d), owned: true)
      if let bias { g.accumulate(bias, reduceChunks(partB, d), owned: true) }
      if let shift, let scale {
        g.accumulate(shift, reduceChunks(partShift, items * d).reshaped([items, d]), owned: true)
        g.accumulate(scale, reduceChunks(partScale, items * d).reshaped([items, d]), owned: true)
      }
    }
  }
}

/// One row: y = ((x − mean)·rstd·w + b)·(1 + scale) + shift.
@inline(__always)
func normalizeRow(_ d: Int, _ xr: UnsafePointer<Float>, _ yr: UnsafeMutablePointer<Float>, _ mean: Float,
                  _ rstd: Float, _ wp: UnsafePointer<Float>, _ bp: UnsafePointer<Float>?,
                  _ shift: UnsafePointer<Float>?, _ scale: UnsafePointer<Float>?) {
  let mv = Vec(repeating: mean), rv = Vec(repeating: rstd)
  var i = 0
  while i < d {
    let n = min(16, d - i)
    let xv = n == 16 ? loadVec(xr + i) : loadPartial(xr + i, n)
    var z = (xv - mv) * rv * (n == 16 ? loadVec(wp + i) : loadPartial(wp + i, n))
    if let bp { z += n == 16 ? loadVec(bp + i) : loadPartial(bp + i, n) }
    if let shift, let scale {
      let sc = n == 16 ? loadVec(scale + i) : loadPartial(scale + i, n)
      let sh = n == 16 ? loadVec(shift + i) : loadPartial(shift + i, n)
      z = z * (1 + sc) + sh
    }
    store(z, yr + i, n)
    i += 16
  }
}

@inline(__always) func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
  if n == 16 { storeVec(v, p) } else { storePartial(v, p, n) }
}
