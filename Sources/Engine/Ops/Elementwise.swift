/// Element-wise arithmetic with NumPy-style broadcasting. Same-shape operands and a trailing
/// operand (e.g. [N, D] with [D]) take SIMD fast paths; other shapes use an index walk.
extension Graph {
  public func add(_ a: Var, _ b: Var) -> Var { binary(a, b, .add) }
  public func sub(_ a: Var, _ b: Var) -> Var { binary(a, b, .sub) }
  public func mul(_ a: Var, _ b: Var) -> Var { binary(a, b, .mul) }

  /// y = a·x + c for scalars a, c.
  public func affine(_ x: Var, scale a: Float, shift c: Float = 0) -> Var {
    let y = Tensor(uninitialized: x.shape)
    let xp = x.value.pointer, yp = y.pointer
    Parallel.forRange(y.count, grain: 1 << 15) { r in
      mapVec(r.count, xp + r.lowerBound, yp + r.lowerBound) { $0 * a + c }
    }
    return record(y, x) { g, dy in
      let dx = Tensor(uninitialized: x.shape)
      let dyp = dy.pointer, dxp = dx.pointer
      Parallel.forRange(dx.count, grain: 1 << 15) { r in
        mapVec(r.count, dyp + r.lowerBound, dxp + r.lowerBound) { $0 * a }
      }
      g.accumulate(x, dx, owned: true)
    }
  }

  enum BinaryOp { case add, sub, mul }

  func binary(_ a: Var, _ b: Var, _ op: BinaryOp) -> Var {
    let outShape = broadcastShape(a.shape, b.shape)
    let y = Tensor(uninitialized: outShape)
    let plan = BroadcastPlan(out: outShape, a: a.shape, b: b.shape)
    plan.forward(op, a.value.pointer, b.value.pointer, y.pointer)
    return record(y, a, b) { g, dy in
      if a.needsGradient {
        // d/da: dy (add, sub), dy·b (mul), summed over a's broadcast axes.
        let full: Tensor
        switch op {
        case .add, .sub: full = dy
        case .mul:
          full = Tensor(uninitialized: outShape)
          BroadcastPlan(out: outShape, a: outShape, b: b.shape)
            .forward(.mul, dy.pointer, b.value.pointer, full.pointer)
        }
        g.accumulate(a, reduceToShape(full, a.shape), owned: !(op != .mul && a.shape == outShape))
      }
      if b.needsGradient {
        let full: Tensor
        switch op {
        case .add: full = dy
        case .sub:
          full = Tensor(uninitialized: outShape)
          mapVec(full.count, dy.pointer, full.pointer) { -$0 }
        case .mul:
          full = Tensor(uninitialized: outShape)
          BroadcastPlan(out: outShape, a: outShape, b: a.shape)
            .forward(.mul, dy.pointer, a.value.pointer, full.pointer)
        }
        g.accumulate(b, reduceToShape(full, b.shape), owned: !(op == .add && b.shape == outShape))
      }
    }
  }
}

/// The shape two operands broadcast to (trailing axes aligned; size-1 axes stretch).
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
  let r = max(a.count, b.count)
  return (0..<r).map { i -> Int in
    let da = i < r - a.count ? 1 : a[i - (r - a.count)]
    let db = i < r - b.count ? 1 : b[i - (r - b.count)]
    precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
    return max(da, db)
  }
}

/// Sums `t` over the axes along which `shape` was broadcast to t's shape.
func reduceToShape(_ t: Tensor, _ shape: [Int]) -> Tensor {
  if t.shape == shape { return t }
  let count = shape.reduce(1, *)
  // Fast path: `shape` (less leading 1s) is a suffix of t's shape (bias-like) → column sums.
  let r = t.rank, s = shape.count
  let core = Array(shape.drop(while: { $0 == 1 }))
  if core.count <= r, Array(t.shape.suffix(core.count)) == core {
    let out = Tensor(uninitialized: shape)
    columnSums(t.pointer, rows: t.count / max(count, 1), cols: count, into: out.pointer, accumulate: false)
    return out
  }
  let out = Tensor.zeros(shape)
  let aligned = Array(repeating: 1, count: r - s) + shape
  var strides = [Int](repeating: 0, count: r)
  var acc = 1
  for i in stride(from: r - 1, through: 0, by: -1) {
    strides[i] = aligned[i] == 1 ? 0 : acc
    acc *= aligned[i]
  }
  var idx = [Int](repeating: 0, count: r)
  let tp = t.pointer, op = out.pointer
  for flat in 0..<t.count {
    var o = 0
    for i in 0..<r { o += idx[i] * strides[i] }
    op[o] += tp[flat]
    var d = r - 1
    while d >= 0 { idx[d] += 1; if idx[d] < t.shape[d] { break }; idx[d] = 0; d -= 1 }
  }
  return out
}

/// Precomputed index mapping of a broadcast binary operation.
struct BroadcastPlan {
  enum Kind { case same, trailingB(Int), trailingA(Int), general }
  let out: [Int], a: [Int], b: [Int]
  let kind: Kind

  init(out: [Int], a: [Int], b: [Int]) {
    self.out = out; self.a = a; self.b = b
    let n = out.reduce(1, *)
    // Leading size-1 axes do not change the memory layout: [1, D] is as trailing as [D].
    let a = Array(a.drop(while: { $0 == 1 })), b = Array(b.drop(while: { $0 == 1 }))
    let core = Array(out.drop(while: { $0 == 1 }))
    if a == core && b == core { kind = .same }
    else if a == core, b.reduce(1, *) > 0, n % b.reduce(1, *) == 0,
            Array(out.suffix(b.count)) == b { kind = .trailingB(b.reduce(1, *)) }
    else if b == core, a.reduce(1, *) > 0, n % a.reduce(1, *) == 0,
            Array(out.suffix(a.count)) == a { kind = .trailingA(a.reduce(1, *)) }
    else { kind = .general }
  }

  func forward(_ op: Graph.BinaryOp, _ ap: UnsafePointer<Float>, _ bp: UnsafePointer<Float>,
               _ yp: UnsafeMutablePointer<Float>) {
    let n = out.reduce(1, *)
    @inline(__always) func f(_ x: Vec, _ y: Vec) -> Vec {
      switch op { case .add: return x + y; case .sub: return x - y; case .mul: return x * y }
    }
    switch kind {
    case .same:
      Parallel.forRange(n, grain: 1 << 15) { r in
        mapVec2(r.count, ap + r.lowerBound, bp + r.lowerBound, yp + r.lowerBound, f)
      }
    case .trailingB(let inner):
      Parallel.forRange(n / inner, grain: max(1, (1 << 15) / inner)) { rows in
        for row in rows { mapVec2(inner, ap + row * inner, bp, yp + row * inner, f) }
      }
    case .trailingA(let inner):
      Parallel.forRange(n / inner, grain: max(1, (1 << 15) / inner)) { rows in
        for row in rows { mapVec2(inner, ap, bp + row * inner, yp + row * inner, f) }
      }
    case .general:
      let r = out.count
      func strides(_ s: [Int]) -> [Int] {
        let aligned = Array(repeating: 1, count: r - s.count) + s
        var st = [Int](repeating: 0, count: r)
        var acc = 1
        for i in stride(from: r - 1, through: 0, by: -1) {
          st[i] = aligned[i] == 1 ? 0 : acc
          acc *= aligned[i]
        }
        return st
      }
      let sa = strides(a), sb = strides(b)
      var idx = [Int](repeating: 0, count: r)
      for flat in 0..<n {
        var oa = 0, ob = 0
        for i in 0..<r { oa += idx[i] * sa[i]; ob += idx[i] * sb[i] }
        switch op {
        case .add: yp[flat] = ap[oa] + bp[ob]
        case .sub: yp[flat] = ap[oa] - bp[ob]
        case .mul: yp[flat] = ap[oa] * bp[ob]
        }
        var d = r - 1
        while d >= 0 { idx[d] += 1; if idx[d] < out[d] { break }; idx[d] = 0; d -= 1 }
      }
    }
  }
}
