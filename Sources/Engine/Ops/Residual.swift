/// The gated residual of a DiT block: out = x + gate[i] ⊙ dropout(branch), gate per batch item
/// (x, branch [items, rows, D] or [items·rows, D]; gate [items, D]). Dropout is active only when the
/// graph is in training mode and p > 0; its mask is regenerated in backward from the counter RNG
/// rather than stored.
extension Graph {
  public func gatedResidual(_ x: Var, _ branch: Var, gate: Var, dropout p: Float = 0) -> Var {
    precondition(x.shape == branch.shape, "gatedResidual: x \(x.shape) vs branch \(branch.shape)")
    let d = x.shape.last!
    let items = gate.shape[0]
    let rows = x.value.count / d
    precondition(gate.shape == [items, d] && rows % items == 0, "gatedResidual: gate \(gate.shape) for \(x.shape)")
    let rowsPerItem = rows / items
    let useDropout = training && p > 0
    let keepScale: Float = useDropout ? 1 / (1 - p) : 1
    let rng = dropoutRandom
    let base = useDropout ? nextDropoutRange(rows * d) : 0
    let out = Tensor(uninitialized: x.shape)
    let xp = x.value.pointer, bp = branch.value.pointer, gp = gate.value.pointer, op = out.pointer

    /// The dropout multipliers of 16 consecutive elements: 0 (dropped) or 1/(1−p).
    @inline(__always) func keep(_ index: Int) -> Vec {
      Vec(repeating: keepScale).replacing(with: 0, where: rng.uniform16(index) .< p)
    }

    Parallel.forRange(rows, grain: max(1, 8192 / d)) { range in
      for r in range {
        let gr = gp + (r / rowsPerItem) * d
        var j = 0
        while j < d {
          let n = min(16, d - j), o = r * d + j
          var br = n == 16 ? loadVec(bp + o) : loadPartial(bp + o, n)
          if useDropout { br *= keep(base + o) }
          let v = (n == 16 ? loadVec(xp + o) : loadPartial(xp + o, n)) + (n == 16 ? loadVec(gr + j) : loadPartial(gr + j, n)) * br
          store(v, op + o, n)
          j += 16
        }
      }
    }
    return record(out, x, branch, gate) { g, dout in
      g.accumulate(x, dout, owned: false)
      let dop = dout.pointer
      let dbranch = branch.needsGradient ? Tensor(uninitialized: branch.shape) : nil
      let parts = Tensor.zeros([Parallel.workers, items, d])
      // Raw pointers hoisted out of the loops: touching a tensor there retains its storage each time.
      let dbp = dbranch?.pointer, partsp = parts.pointer
      let chunks = Parallel.forChunks(rows, grain: max(1, 8192 / d)) { c, range in
        for r in range {
          let item = r / rowsPerItem
          let gr = gp + item * d, pg = partsp + (c * items + item) * d
          var j = 0
          while j < d {
            let n = min(16, d - j), o = r * d + j
            let dov = n == 16 ? loadVec(dop + o) : loadPartial(dop + o, n)
            let mask = useDropout ? keep(base + o) : Vec(repeating: 1)
            let br = (n == 16 ? loadVec(bp + o) : loadPartial(bp + o, n)) * mask
            store((n == 16 ? loadVec(pg + j) : loadPartial(pg + j, n)) + dov * br, pg + j, n)
            if let dbp {
              store(dov * (n == 16 ? loadVec(gr + j) : loadPartial(gr + j, n)) * mask, dbp + o, n)
            }
            j += 16
          }
        }
      }
      if let dbranch { g.accumulate(branch, dbranch, owned: true) }
      if gate.needsGradient {
        let dg = Tensor.zeros([items, d])
        for c in 0..<chunks { axpyVec(items * d, 1, parts.pointer + c * items * d, dg.pointer) }
        g.accumulate(gate, dg, owned: true)
      }
    }
  }

  /// Standalone inverted dropout (training mode only): x·mask/(1−p).
  public func dropout(_ x: Var, p: Float) -> Var {
    guard training && p > 0 else { return x }
    let n = x.value.count
    let rng = dropoutRandom
    let base = nextDropoutRange(n)
    let keepScale = 1 / (1 - p)
    @inline(__always) func keep(_ i: Int) -> Vec {
      Vec(repeating: keepScale).replacing(with: 0, where: rng.uniform16(base + i) .< p)
    }
    let y = Tensor(uninitialized: x.shape)
    let xp = x.value.pointer, yp = y.pointer
    var i = 0
    while i < n {
      let m = min(16, n - i)
      store((m == 16 ? loadVec(xp + i) : loadPartial(xp + i, m)) * keep(i), yp + i, m)
      i += 16
    }
    return record(y, x) { g, dy in
      let dx = Tensor(uninitialized: x.shape)
      let dyp = dy.pointer, dxp = dx.pointer
      var i = 0
      while i < n {
        let m = min(16, n - i)
        store((m == 16 ? loadVec(dyp + i) : loadPartial(dyp + i, m)) * keep(i), dxp + i, m)
        i += 16
      }
      g.accumulate(x, dx, owned: true)
    }
  }
}
