/// Shape-only and data-movement ops: reshape (a view), transpose/permute, concat, split, row
/// gather/scatter (packing tokens by position), and reductions.
extension Graph {
  public func reshape(_ x: Var, _ shape: [Int]) -> Var {
    let y = x.value.reshaped(shape)
    return record(y, x) { g, dy in g.accumulate(x, dy.reshaped(x.shape), owned: false) }
  }

  /// Permutes axes (`perm[i]` = the input axis that becomes output axis i). Copies.
  public func permute(_ x: Var, _ perm: [Int]) -> Var {
    precondition(perm.sorted() == Array(0..<x.rank), "permute: \(perm) for rank \(x.rank)")
    let y = permuted(x.value, perm)
    var inverse = [Int](repeating: 0, count: perm.count)
    for (i, p) in perm.enumerated() { inverse[p] = i }
    return record(y, x) { g, dy in g.accumulate(x, permuted(dy, inverse), owned: true) }
  }

  /// Swaps two axes.
  public func transpose(_ x: Var, _ a: Int, _ b: Int) -> Var {
    var perm = Array(0..<x.rank)
    perm.swapAt(a, b)
    return permute(x, perm)
  }

  /// Joins tensors along `axis` (other axes equal).
  public func concat(_ xs: [Var], axis: Int) -> Var {
    precondition(!xs.isEmpty)
    let r = xs[0].rank
    for x in xs {
      precondition(x.rank == r && (0..<r).allSatisfy { $0 == axis || x.shape[$0] == xs[0].shape[$0] },
                   "concat: shapes \(xs.map(\.shape)) along axis \(axis)")
    }
    let outer = xs[0].shape[..<axis].reduce(1, *)
    let inner = xs[0].shape[(axis + 1)...].reduce(1, *)
    let sizes = xs.map { $0.shape[axis] }
    var shape = xs[0].shape
    shape[axis] = sizes.reduce(0, +)
    let y = Tensor(uninitialized: shape)
    let total = shape[axis] * inner
    var start = 0
    for (x, s) in zip(xs, sizes) {
      let w = s * inner
      for o in 0..<outer { (y.pointer + o * total + start).update(from: x.value.pointer + o * w, count: w) }
      start += w
    }
    return record(y, inputs: xs) { g, dy in
      var start = 0
      for (x, s) in zip(xs, sizes) {
        let w = s * inner
        if x.needsGradient {
          let dx = Tensor(uninitialized: x.shape)
          for o in 0..<outer { (dx.pointer + o * w).update(from: dy.pointer + o * total + start, count: w) }
          g.accumulate(x, dx, owned: true)
        }
        start += w
      }
    }
  }

  /// Splits along `axis` into pieces of the given sizes.
  public func split(_ x: Var, sizes: [Int], axis: Int) -> [Var] {
    precondition(sizes.reduce(0, +) == x.shape[axis], "split: \(sizes) of axis \(axis) in \(x.shape)")
    var start = 0
    return sizes.map { s in
      defer { start += s }
      return slice(x, axis: axis, range: start..<(start + s))
    }
  }

  /// Elements `range` along `axis` (a copy; backward writes into the matching slice).
  public func slice(_ x: Var, axis: Int, range: Range<Int>) -> Var {
    let outer = x.shape[..<axis].reduce(1, *)
    let inner = x.shape[(axis + 1)...].reduce(1, *)
    let full = x.shape[axis] * inner, w = range.count * inner, start = range.lowerBound * inner
    var shape = x.shape
    shape[axis] = range.count
    let y = Tensor(uninitialized: shape)
    for o in 0..<outer { (y.pointer + o * w).update(from: x.value.pointer + o * full + start, count: w) }
    return record(y, x) { g, dy in
      let dx = Tensor.zeros(x.shape)
      for o in 0..<outer { (dx.pointer + o * full + start).update(from: dy.pointer + o * w, count: w) }
      g.accumulate(x, dx, owned: true)
    }
  }

  /// out[b, m] = x[b, index[b, m]]  (x [B, L, D], index [B, M] → [B, M, D]).
  public func gatherRows(_ x: Var, _ index: TokenTensor) -> Var {
    let b = x.shape[0], l = x.shape[1], d = x.value.count / (b * l), m = index.shape[1]
    precondition(index.shape == [b, m], "gatherRows: index \(index.shape) for x \(x.shape)")
    for i in index.values { precondition(i >= 0 && Int(i) < l, "gatherRows: index \(i) outside 0..<\(l)") }
    let y = Tensor(uninitialized: [b, m] + x.shape.dropFirst(2))
    for bi in 0..<b {
      for j in 0..<m {
        (y.pointer + (bi * m + j) * d).update(from: x.value.pointer + (bi * l + Int(index[bi, j])) * d, count: d)
      }
    }
    return record(y, x) { g, dy in
      let dx = Tensor.zeros(x.shape)
      for bi in 0..<b {
        for j in 0..<m {
          axpyVec(d, 1, dy.pointer + (bi * m + j) * d, dx.pointer + (bi * l + Int(index[bi, j])) * d)
        }
      }
      g.accumulate(x, dx, owned: true)
    }
  }

  /// Rows of x viewed as [N, D] (N = all but the last axis): out[i] = x[rows[i]], [M, D].
  /// Backward scatter-adds. Used to pick the positions a loss looks at out of padded batches.
  public func selectRows(_ x: Var, _ rows: [Int]) -> Var {
    let d = x.shape.last!, n = x.value.count / d
    precondition(rows.allSatisfy { $0 >= 0 && $0 < n }, "selectRows: a row index is outside 0..<\(n)")
    let y = Tensor(uninitialized: [rows.count, d])
    for (i, r) in rows.enumerated() { (y.pointer + i * d).update(from: x.value.pointer + r * d, count: d) }
    return record(y, x) { g, dy in
      let dx = Tensor.zeros(x.shape)
      for (i, r) in rows.enumerated() { axpyVec(d, 1, dy.pointer + i * d, dx.pointer + r * d) }
      g.accumulate(x, dx, owned: true)
    }
  }

  /// The inverse placement: out [B, length, D] is zero except out[b, index[b, m]] += x[b, m].
  public func scatterRows(_ x: Var, _ index: TokenTensor, length: Int) -> Var {
    let b = x.shape[0], m = x.shape[1], d = x.value.count / (b * m)
    precondition(index.shape == [b, m], "scatterRows: index \(index.shape) for x \(x.shape)")
    for i in index.values { precondition(i >= 0 && Int(i) < length, "scatterRows: index \(i) outside 0..<\(length)") }
    let y = Tensor.zeros([b, length] + x.shape.dropFirst(2))
    for bi in 0..<b {
      for j in 0..<m {
        axpyVec(d, 1, x.value.pointer + (bi * m + j) * d, y.pointer + (bi * length + Int(index[bi, j])) * d)
      }
    }
    return record(y, x) { g, dy in
      let dx = Tensor(uninitialized: x.shape)
      for bi in 0..<b {
        for j in 0..<m {
          (dx.pointer + (bi * m + j) * d).update(from: dy.pointer + (bi * length + Int(index[bi, j])) * d, count: d)
        }
      }
      g.accumulate(x, dx, owned: true)
    }
  }

  /// Repeats x [1, ...] `count` times along the first axis (backward sums the copies).
  public func repeatBatch(_ x: Var, _ count: Int) -> Var {
    precondition(x.shape.first == 1, "repeatBatch: first axis of \(x.shape) must be 1")
    let n = x.value.count
    let y = Tensor(uninitialized: [count] + x.shape.dropFirst())
    for i in 0..<count { (y.pointer + i * n).update(from: x.value.pointer, count: n) }
    return record(y, x) { g, dy in
      let dx = Tensor.zeros(x.shape)
      for i in 0..<count { axpyVec(n, 1, dy.pointer + i * n, dx.pointer) }
      g.accumulate(x, dx, owned: true)
    }
  }

  /// Σ of all elements → [1].
  public func sum(_ x: Var) -> Var {
    let y = Tensor.filled([1], x.value.withUnsafeBufferPointer { p in
      var s: Double = 0
      for v in p { s += Double(v) }
      return Float(s)
    })
    return record(y, x) { g, dy in g.accumulate(x, Tensor.filled(x.shape, dy[flat: 0]), owned: true) }
  }

  /// Mean of all elements → [1].
  public func mean(_ x: Var) -> Var { affine(sum(x), scale: 1 / Float(max(x.value.count, 1))) }

  /// Σ over one axis (the axis is removed).
  public func sum(_ x: Var, axis: Int) -> Var {
    let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    var shape = x.shape
    shape.remove(at: axis)
    let y = Tensor.zeros(shape)
    for o in 0..<outer {
      for k in 0..<n { axpyVec(inner, 1, x.value.pointer + (o * n + k) * inner, y.pointer + o * inner) }
    }
    return record(y, x) { g, dy in
      let dx = Tensor(uninitialized: x.shape)
      for o in 0..<outer {
        for k in 0..<n { (dx.pointer + (o * n + k) * inner).update(from: dy.pointer + o * inner, count: inner) }
      }
      g.accumulate(x, dx, owned: true)
    }
  }
}

/// A permuted copy.
func permuted(_ x: Tensor, _ perm: [Int]) -> Tensor {
  let r = x.rank
  let shape = perm.map { x.shape[$0] }
  var inStrides = [Int](repeating: 1, count: r)
  for i in stride(from: r - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * x.shape[i + 1] }
  let strides = perm.map { inStrides[$0] }
  let y = Tensor(uninitialized: shape)
  var idx = [Int](repeating: 0, count: r)
  let xp = x.pointer, yp = y.pointer
  for flat in 0..<y.count {
    var o = 0
    for i in 0..<r { o += idx[i] * strides[i] }
    yp[flat] = xp[o]
    var dd = r - 1
    while dd >= 0 { idx[dd] += 1; if idx[dd] < shape[dd] { break }; idx[dd] = 0; dd -= 1 }
  }
  return y
}
