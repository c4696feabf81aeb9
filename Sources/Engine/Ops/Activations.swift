/// GELU (tanh approximation, as `nn.GELU(approximate='tanh')`) and SiLU.
///
/// GELU uses 0.5·(1 + tanh(u)) = σ(2u), u = √(2/π)(x + 0.044715x³), so one SIMD exp serves both
/// the value and the derivative.
extension Graph {
  public func gelu(_ x: Var) -> Var {
    let y = Tensor(uninitialized: x.shape)
    let xp = x.value.pointer, yp = y.pointer
    Parallel.forRange(y.count, grain: 1 << 14) { r in geluForwardKernel(r.count, xp + r.lowerBound, yp + r.lowerBound) }
    return record(y, x) { g, dy in
      let dx = Tensor(uninitialized: x.shape)
      let dyp = dy.pointer, dxp = dx.pointer, xp = x.value.pointer
      Parallel.forRange(dx.count, grain: 1 << 14) { r in
        geluBackwardKernel(r.count, dyp + r.lowerBound, xp + r.lowerBound, dxp + r.lowerBound)
      }
      g.accumulate(x, dx, owned: true)
    }
  }

  public func silu(_ x: Var) -> Var {
    unaryActivation(x, forward: { v in v * vsigmoid(v) }, derivative: { v in
      let s = vsigmoid(v)
      return s * (1 + v * (1 - s))
    })
  }

  /// Shared shape of a pointwise activation: y = f(x), dx = dy · f'(x) (x is kept, not y).
  func unaryActivation(_ x: Var, forward: @escaping (Vec) -> Vec, derivative: @escaping (Vec) -> Vec) -> Var {
    let y = Tensor(uninitialized: x.shape)
    let xp = x.value.pointer, yp = y.pointer
    Parallel.forRange(y.count, grain: 1 << 14) { r in
      mapVec(r.count, xp + r.lowerBound, yp + r.lowerBound, forward)
    }
    return record(y, x) { g, dy in
      let dx = Tensor(uninitialized: x.shape)
      let dyp = dy.pointer, dxp = dx.pointer, xp = x.value.pointer
      Parallel.forRange(dx.count, grain: 1 << 14) { r in
        mapVec2(r.count, dyp + r.lowerBound, xp + r.lowerBound, dxp + r.lowerBound) { d, v in d * derivative(v) }
      }
      g.accumulate(x, dx, owned: true)
    }
  }
}

@_transparent func geluU(_ v: Vec) -> Vec { 0.797_884_560_8 * (v + 0.044_715 * v * v * v) }

/// d/dv [v·σ(2u(v))] = σ + v·σ(1−σ)·2u'(v).
@inline(__always) func geluDerivative(_ v: Vec) -> Vec {
  let s = vsigmoid(2 * geluU(v))
  let du = 0.797_884_560_8 * (1 + 3 * 0.044_715 * v * v)
  return s + v * s * (1 - s) * 2 * du
}
