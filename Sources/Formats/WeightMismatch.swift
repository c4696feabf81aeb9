/// The result of comparing a set of named tensors with what a network expects: every missing,
/// unexpected and mis-shaped name at once, so one run shows the whole problem.
public struct WeightMismatch: Error, Equatable, Sendable, CustomStringConvertible {
  /// A name present on both sides with different shapes.
  public struct WrongShape: Equatable, Sendable {
    public let name: String
    public let expected: [Int]
    public let actual: [Int]
  }

  /// Where the weights came from (a file path), for the message.
  public let source: String?
  /// Expected but absent, in the expected order.
  public let missing: [String]
  /// Present but not expected, in the order found.
  public let unexpected: [String]
  public let wrongShapes: [WrongShape]

  /// Throws a `WeightMismatch` unless `actual` has exactly the names and shapes of `expected`
  /// (order is not compared).
  public static func check(actual: [(name: String, shape: [Int])], expected: [(name: String, shape: [Int])],
                           source: String? = nil) throws {
    var actualShapes: [String: [Int]] = [:]
    for (name, shape) in actual where actualShapes[name] == nil { actualShapes[name] = shape }
    var expectedNames = Set<String>()
    var missing: [String] = []
    var wrongShapes: [WrongShape] = []
    for (name, shape) in expected where expectedNames.insert(name).inserted {
      guard let found = actualShapes[name] else { missing.append(name); continue }
      if found != shape { wrongShapes.append(WrongShape(name: name, expected: shape, actual: found)) }
    }
    var seen = Set<String>()
    let unexpected = actual.map(\.name).filter { !expectedNames.contains($0) && seen.insert($0).inserted }
    if !missing.isEmpty || !unexpected.isEmpty || !wrongShapes.isEmpty {
      throw WeightMismatch(source: source, missing: missing, unexpected: unexpected, wrongShapes: wrongShapes)
    }
  }

  public var description: String {
    var lines = ["weights\(source.map { " in \($0)" } ?? "") do not match the network "
      + "(\(missing.count) missing, \(unexpected.count) unexpected, \(wrongShapes.count) with the wrong shape):"]
    lines += missing.map { "  missing:     \($0)" }
    lines += unexpected.map { "  unexpected:  \($0)" }
    lines += wrongShapes.map { "  wrong shape: \($0.name): expected \($0.expected), found \($0.actual)" }
    return lines.joined(separator: "\n")
  }
}
