/// A value in a computation: a tensor plus its slot on the tape (`id < 0`: needs no gradient).
public struct Var: @unchecked Sendable {
  public let value: Tensor
  public let id: Int
  public var shape: [Int] { value.shape }
  public var needsGradient: Bool { id >= 0 }
}

/// The autograd tape. Ops run eagerly; when any input needs a gradient the op records a backward
/// closure. `backward(from:)` replays them in reverse creation order, which is a topological order
/// because an op's output is always created after its inputs.
///
/// A graph is used for one forward/backward and then dropped (its saved tensors go back to the
/// buffer pool). With `recording: false` nothing is saved: inference costs no tape memory.
public final class Graph {
  struct Node {
    let output: Int
    let backward: (Graph, Tensor) -> Void
  }

  public let recording: Bool
  /// Training mode: dropout is active.
  public let training: Bool
  /// Accumulation precision of every matrix product on this graph.
  public let precision: MatrixPrecision
  /// Inference with fixed weights: linear layers whose weights are held here run on their panels
  /// (`PackedWeights`) when the graph does not record.
  public var packedWeights: PackedWeights?
  /// Dropout masks are a pure function of this key and a running counter: reproducible and
  /// independent of thread scheduling.
  let dropoutRandom: CounterRandom
  var dropoutCounter = 0

  private var nodes: [Node] = []
  private var grads: [Tensor?] = []
  /// A gradient slot may hold a tensor shared with someone else (e.g. the output gradient passed
  /// straight through an addition); it is copied before anything is accumulated into it.
  private var gradShared: [Bool] = []
  private var parameterIds: [ParameterKey: Int] = [:]

  struct ParameterKey: Hashable {
    let storage: ObjectIdentifier
    let offset: Int
  }

  public init(recording: Bool = true, training: Bool = false, dropoutSeed: UInt64 = 0,
              precision: MatrixPrecision = .float32) {
    self.recording = recording
    self.training = training
    self.precision = precision
    self.dropoutRandom = CounterRandom(key: dropoutSeed)
  }

  /// Registers a trainable tensor (a leaf that collects a gradient). Registering the same tensor
  /// twice returns the same variable.
  public func parameter(_ t: Tensor) -> Var {
    guard recording else { return Var(value: t, id: -1) }
    let key = ParameterKey(storage: ObjectIdentifier(t.storage), offset: t.offset)
    if let id = parameterIds[key] { return Var(value: t, id: id) }
    let v = newVar(t)
    parameterIds[key] = v.id
    return v
  }

  /// A leaf that collects a gradient without being a parameter (inputs in gradient checks).
  public func input(_ t: Tensor) -> Var { recording ? newVar(t) : Var(value: t, id: -1) }

  /// A value that never needs a gradient.
  public func constant(_ t: Tensor) -> Var { Var(value: t, id: -1) }

  private func newVar(_ t: Tensor) -> Var {
    grads.append(nil)
    gradShared.append(false)
    return Var(value: t, id: grads.count - 1)
  }

  /// Wraps an op's output; records `backward` (called with the output's gradient) if any input
  /// needs a gradient.
  func record(_ output: Tensor, _ inputs: Var..., backward: @escaping (Graph, Tensor) -> Void) -> Var {
    guard recording, inputs.contains(where: { $0.needsGradient }) else { return Var(value: output, id: -1) }
    let v = newVar(output)
    nodes.append(Node(output: v.id, backward: backward))
    return v
  }

  func record(_ output: Tensor, inputs: [Var], backward: @escaping (Graph, Tensor) -> Void) -> Var {
    guard recording, inputs.contains(where: { $0.needsGradient }) else { return Var(value: output, id: -1) }
    let v = newVar(output)
    nodes.append(Node(output: v.id, backward: backward))
    return v
  }

  /// Back-propagates from a scalar (or from `seed`, a gradient of the output's shape).
  public func backward(from output: Var, seed: Tensor? = nil) {
    precondition(recording, "backward on a graph built with recording: false")
    guard output.needsGradient else { return }
    let s = seed ?? Tensor.filled(output.shape, 1)
    precondition(s.shape == output.shape, "backward seed \(s.shape) for output \(output.shape)")
    accumulate(output, s, owned: false)
    let recorded = nodes
    nodes.removeAll()
    for node in recorded.reversed() {
      guard let g = grads[node.output] else { continue }
      // An op output's gradient is consumed here; give its memory back as early as possible.
      grads[node.output] = nil
      node.backward(self, g)
    }
  }

  /// The gradient collected by a leaf (parameter or input) after `backward`.
  public func gradient(of v: Var) -> Tensor? { v.id >= 0 ? grads[v.id] : nil }

  /// The gradient of a registered parameter tensor, if it received one.
  public func gradient(ofParameter t: Tensor) -> Tensor? {
    let key = ParameterKey(storage: ObjectIdentifier(t.storage), offset: t.offset)
    guard let id = parameterIds[key] else { return nil }
    return grads[id]
  }

  /// Adds `g` into v's gradient. `owned`: the caller hands over `g` (no other reference writes it).
  func accumulate(_ v: Var, _ g: Tensor, owned: Bool) {
    guard v.id >= 0 else { return }
    precondition(g.count == v.value.count, "gradient \(g.shape) for value \(v.shape)")
    if let existing = grads[v.id] {
      if gradShared[v.id] {
        let sum = Tensor(uninitialized: v.shape)
        mapVec2(sum.count, existing.pointer, g.pointer, sum.pointer) { $0 + $1 }
        grads[v.id] = sum
        gradShared[v.id] = false
      } else {
        addInPlace(existing, g)
      }
    } else {
      grads[v.id] = g.shape == v.shape ? g : g.reshaped(v.shape)
      gradShared[v.id] = !owned
    }
  }

  /// A gradient buffer to accumulate into directly (e.g. as the C of a product with beta):
  /// returns the tensor and whether it already holds a value (beta 1) or is fresh (beta 0).
  func gradientTarget(_ v: Var) -> (tensor: Tensor, accumulate: Bool)? {
    guard v.id >= 0 else { return nil }
    if let existing = grads[v.id] {
      if gradShared[v.id] {
        let c = existing.copy()
        grads[v.id] = c
        gradShared[v.id] = false
        return (c, true)
      }
      return (existing, true)
    }
    let t = Tensor(uninitialized: v.shape)
    grads[v.id] = t
    gradShared[v.id] = false
    return (t, false)
  }

  /// Takes `count` dropout draws' worth of counter space.
  func nextDropoutRange(_ count: Int) -> Int {
    let start = dropoutCounter
    dropoutCounter += count
    return start
  }
}

/// a += b elementwise (same element count), split over the workers for large tensors.
func addInPlace(_ a: Tensor, _ b: Tensor) {
  let pa = a.pointer, pb = b.pointer
  Parallel.forRange(a.count, grain: 1 << 16) { r in
    mapVec2(r.count, pa + r.lowerBound, pb + r.lowerBound, pa + r.lowerBound) { $0 + $1 }
  }
}
