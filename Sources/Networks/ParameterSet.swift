import Engine

/// The named parameters of a network, in the reference's registration order (which matters: the
/// reference stores EMA weights as a bare list in this order). Tensors are shared handles: layers
/// hold the same storage, so loading or optimising updates the network in place.
public final class ParameterSet {
  public private(set) var names: [String] = []
  public private(set) var tensors: [Tensor] = []
  private var index: [String: Int] = [:]

  public init() {}

  /// Adds a parameter (construction only).
  func add(_ name: String, _ t: Tensor) -> Tensor {
    precondition(index[name] == nil, "duplicate parameter \(name)")
    index[name] = names.count
    names.append(name)
    tensors.append(t)
    return t
  }

  public subscript(name: String) -> Tensor? { index[name].map { tensors[$0] } }
  public var count: Int { names.count }
  public var elementCount: Int { tensors.reduce(0) { $0 + $1.count } }
  public var shapes: [(name: String, shape: [Int])] { zip(names, tensors).map { ($0, $1.shape) } }

  /// Writes new values into a parameter (shapes are validated at the file boundary, in Checkpoints).
  public func assign(_ name: String, _ values: [Float]) {
    guard let i = index[name] else { preconditionFailure("no parameter named \(name)") }
    precondition(values.count == tensors[i].count, "\(name): \(values.count) values for \(tensors[i].shape)")
    tensors[i].assign(values)
  }

  /// Copies values from another set with the same names and shapes.
  public func copy(from other: ParameterSet) {
    precondition(other.names == names, "parameter sets differ")
    for (a, b) in zip(tensors, other.tensors) { a.assign(from: b) }
  }
}

/// PyTorch's default initialisations, so networks trained here start where the reference's do.
enum Init {
  /// nn.Linear / kaiming_uniform(a=√5): U(−1/√fanIn, 1/√fanIn).
  static func uniform(_ shape: [Int], fanIn: Int, _ rng: inout RandomStream) -> Tensor {
    let bound = 1 / Float(fanIn).squareRoot()
    return Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in (2 * rng.uniformFloat() - 1) * bound })
  }
  static func normal(_ shape: [Int], std: Float, _ rng: inout RandomStream) -> Tensor {
    Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Float(rng.normal()) * std })
  }
}
