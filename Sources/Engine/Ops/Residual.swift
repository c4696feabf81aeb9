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

    /// Branch value after dropout for row r into `buf` (or the branch row itself without dropout).
    @inline(__always) func droppedRow(_ r: Int, _ buf: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
      let br = bp + r * d
      guard useDropout else { return UnsafePointer(br) }
      for j in 0..<d { buf[j] = rng.uniform(base + r * d + j) < p ? 0 : br[j] * keepScale }
      return UnsafePointer(buf)
    }

    Parallel.forRange(rows, grain: max(1, 8192 / d)) { range in
      let buf = UnsafeMutablePointer<Float>.allocate(capacity: d)
      defer { buf.deallocate() }
      for r in range {
        let br = droppedRow(r, buf)
        let gr = gp + (r / rowsPerItem) * d
        var j = 0
        while j < d {
          let n = min(16, d - j)
          let v = (n == 16 ? loadVec(xp + r * d + j) : loadPartial(xp + r * d + j, n))
            + (n == 16 ? loadVec(gr + j) : loadPartial(gr + j, n)) * (n == 16 ? loadVec(br + j) : loadPartial(br + j, n))
          store(v, op + r * d + j, n)
          j += 16
        }
      }
    }
    return record(out, x, branch, gate) { g, dout in
      g.accumulate(x, dout, owned: false)
      let dop = dout.pointer
      let dbranch = branch.needsGradient ? Tensor(uninitialized: branch.shape) : nil
      let parts = Tensor.zeros([Parallel.workers, items, d])
      let chunks = Parallel.forChunks(rows, grain: max(1, 8192 / d)) { c, range in
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: d)
        defer { buf.deallocate() }
        for r in range {
          let item = r / rowsPerItem
          let gr = gp + item * d, dor = dop + r * d
          let pg = parts.pointer + (c * items + item) * d
          let br = droppedRow(r, buf)
          for j in 0..<d { pg[j] += dor[j] * br[j] }
          if let dbranch {
            let db = dbranch.pointer + r * d
            if useDropout {
              for j in 0..<d { db[j] = br[j] == 0 && rng.uniform(base + r * d + j) < p ? 0 : dor[j] * gr[j] * keepScale }
            } else {
              mapVec2(d, dor, gr, db) { $0 * $1 }
            }
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
    let keep = 1 / (1 - p)
    let y = Tensor(uninitialized: x.shape)
    let xp = x.value.pointer, yp = y.pointer
    for i in 0..<n { yp[i] = rng.uniform(base + i) < p ? 0 : xp[i] * keep }
    return record(y, x) { g, dy in
      let dx = Tensor(uninitialized: x.shape)
      for i in 0..<n { dx.pointer[i] = rng.uniform(base + i) < p ? 0 : dy.pointer[i] * keep }
      g.accumulate(x, dx, owned: true)
    }
  }
}
