import Engine

/// A linear layer with the reference's layout: weight [out, in], optional bias [out].
struct Linear {
  let weight: Tensor
  let bias: Tensor?
  func callAsFunction(_ g: Graph, _ x: Var) -> Var {
    g.linear(x, g.parameter(weight), bias.map { g.parameter($0) })
  }
}

/// LayerNorm over the last axis; weight only (the DiT blocks) or weight and bias (GroupSwap).
struct LayerNormLayer {
  let weight: Tensor
  let bias: Tensor?
  let eps: Float
  /// Plain, or modulated per batch item: LN(x)·(1 + scale) + shift.
  func callAsFunction(_ g: Graph, _ x: Var, shift: Var? = nil, scale: Var? = nil) -> Var {
    g.layerNorm(x, weight: g.parameter(weight), bias: bias.map { g.parameter($0) }, eps: eps, shift: shift, scale: scale)
  }
}

/// `Linear(D→rD) → GELU(tanh) → Linear(rD→D)`, parameters `mlp.0.*` and `mlp.2.*`.
struct MLP {
  let up: Linear, down: Linear
  func callAsFunction(_ g: Graph, _ x: Var) -> Var {
    down(g, g.linearGELU(x, g.parameter(up.weight), g.parameter(up.bias!)))
  }
}

/// Creates parameters under dotted names, in registration order, with PyTorch's default inits.
final class ParameterBuilder {
  let set: ParameterSet
  var rng: RandomStream
  private var prefix: [String] = []

  init(set: ParameterSet, seed: UInt64) {
    self.set = set
    self.rng = RandomStream(seed: seed)
  }

  /// Runs `body` with `name` appended to the dotted prefix.
  func scope<T>(_ name: String, _ body: () -> T) -> T {
    prefix.append(name)
    defer { prefix.removeLast() }
    return body()
  }

  func tensor(_ name: String, _ t: Tensor) -> Tensor { set.add((prefix + [name]).joined(separator: "."), t) }

  /// nn.Linear(in, out): U(±1/√in) weight and bias; `zero` for the reference's zero-initialised layers.
  func linear(_ name: String, _ inF: Int, _ outF: Int, bias: Bool = true, zero: Bool = false) -> Linear {
    scope(name) {
      let w = tensor("weight", zero ? .zeros([outF, inF]) : Init.uniform([outF, inF], fanIn: inF, &rng))
      let b = bias ? tensor("bias", zero ? .zeros([outF]) : Init.uniform([outF], fanIn: inF, &rng)) : nil
      return Linear(weight: w, bias: b)
    }
  }

  func layerNorm(_ name: String, _ d: Int, bias: Bool = false, eps: Float) -> LayerNormLayer {
    scope(name) {
      let w = tensor("weight", .filled([d], 1))
      let b = bias ? tensor("bias", .zeros([d])) : nil
      return LayerNormLayer(weight: w, bias: b, eps: eps)
    }
  }

  func mlp(_ name: String, _ d: Int, ratio: Int) -> MLP {
    scope(name) { MLP(up: linear("0", d, ratio * d), down: linear("2", ratio * d, d)) }
  }
}
