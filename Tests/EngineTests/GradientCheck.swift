import Engine
import Testing

/// Central finite differences against the hand-written backward of an op.
///
/// The scalar checked is Σ out ⊙ R for a fixed random R, so every output element's gradient path is
/// exercised. Ops are float32, so the step is large (1e-2) and the tolerance relative (2e-2 of the
/// larger of |numeric|, |analytic| and a floor) — a wrong backward is off by O(1).
func checkGradients(_ inputs: [Tensor], training: Bool = false, samples: Int = 24, step: Float = 1e-2,
                    tolerance: Float = 2e-2, sourceLocation: SourceLocation = #_sourceLocation,
                    _ f: (Graph, [Var]) -> Var) {
  let g = Graph(recording: true, training: training, dropoutSeed: 7)
  let vars = inputs.map { g.input($0) }
  let out = f(g, vars)
  var rng = RandomStream(seed: 99)
  let r = Tensor(shape: out.shape, values: (0..<out.value.count).map { _ in Float(rng.normal()) })
  g.backward(from: out, seed: r)

  func objective() -> Double {
    let g2 = Graph(recording: false, training: training, dropoutSeed: 7)
    let o = f(g2, inputs.map { g2.constant($0) }).value.toArray()
    let rv = r.toArray()
    var s = 0.0
    for i in 0..<o.count { s += Double(o[i]) * Double(rv[i]) }
    return s
  }

  for (k, x) in inputs.enumerated() {
    guard let grad = g.gradient(of: vars[k]) else {
      Issue.record("input \(k) received no gradient", sourceLocation: sourceLocation)
      continue
    }
    #expect(grad.shape == x.shape, sourceLocation: sourceLocation)
    let analytic = grad.toArray()
    var pick = RandomStream(seed: UInt64(31 + k))
    let indices = x.count <= samples ? Array(0..<x.count) : (0..<samples).map { _ in pick.int(below: x.count) }
    var worst: Float = 0
    var worstAt = -1
    for i in indices {
      let orig = x[flat: i]
      x[flat: i] = orig + step
      let plus = objective()
      x[flat: i] = orig - step
      let minus = objective()
      x[flat: i] = orig
      let numeric = Float((plus - minus) / (2 * Double(step)))
      let err = abs(numeric - analytic[i]) / max(abs(numeric), abs(analytic[i]), 1)
      if err > worst { worst = err; worstAt = i }
    }
    #expect(worst <= tolerance, "input \(k): relative error \(worst) at element \(worstAt) (analytic \(worstAt >= 0 ? analytic[worstAt] : 0))",
            sourceLocation: sourceLocation)
  }
}

func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
  var rng = RandomStream(seed: seed)
  return Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Float(rng.normal()) * scale })
}
