/// A Float32 tensor: a shape, row-major and contiguous, over a shared `Storage`.
///
/// `Tensor` is a handle: copying it shares the storage (as a view does); `copy()` makes an
/// independent one. Reshapes and row ranges (`rows(_:)`) are views and cost nothing.
public struct Tensor: @unchecked Sendable {
  public let shape: [Int]
  public let storage: Storage
  public let offset: Int

  public var count: Int { shape.reduce(1, *) }
  public var rank: Int { shape.count }
  /// Base address of this view's first element. Engine-internal: other modules go through
  /// `toArray()`, `withUnsafeBufferPointer` or the ops.
  @usableFromInline var pointer: UnsafeMutablePointer<Float> { storage.pointer + offset }

  init(shape: [Int], storage: Storage, offset: Int = 0) {
    self.shape = shape
    self.storage = storage
    self.offset = offset
  }

  /// Uninitialised memory (engine-internal: every kernel writes its whole output).
  init(uninitialized shape: [Int]) {
    self.shape = shape
    self.storage = Storage(count: shape.reduce(1, *))
    self.offset = 0
  }

  public static func zeros(_ shape: [Int]) -> Tensor {
    let t = Tensor(uninitialized: shape)
    t.pointer.initialize(repeating: 0, count: t.count)
    return t
  }

  public static func filled(_ shape: [Int], _ value: Float) -> Tensor {
    let t = Tensor(uninitialized: shape)
    t.pointer.initialize(repeating: value, count: t.count)
    return t
  }

  public init(shape: [Int], values: [Float]) {
    precondition(shape.reduce(1, *) == values.count,
                 "Tensor(shape: \(shape)) needs \(shape.reduce(1, *)) values, got \(values.count)")
    self.init(uninitialized: shape)
    values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
  }

  public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try body(UnsafeBufferPointer(start: pointer, count: count))
  }

  /// Writes `values` into this tensor's memory (used to load weights in place).
  public func assign(_ values: [Float]) {
    precondition(values.count == count, "assign: \(values.count) values into a tensor of \(count)")
    values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
  }

  public func assign(from other: Tensor) {
    precondition(other.count == count, "assign: \(other.shape) into \(shape)")
    pointer.update(from: other.pointer, count: count)
  }

  public func copy() -> Tensor {
    let t = Tensor(uninitialized: shape)
    t.pointer.update(from: pointer, count: count)
    return t
  }

  /// A view with another shape and the same elements.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    var dims = newShape
    if let i = dims.firstIndex(of: -1) {
      let known = dims.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
      dims[i] = known == 0 ? 0 : count / known
    }
    precondition(dims.reduce(1, *) == count, "reshape \(shape) → \(newShape)")
    return Tensor(shape: dims, storage: storage, offset: offset)
  }

  /// Rows `range` of the first axis, as a view.
  public func rows(_ range: Range<Int>) -> Tensor {
    precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0])
    let inner = shape.dropFirst().reduce(1, *)
    return Tensor(shape: [range.count] + shape.dropFirst(), storage: storage,
                  offset: offset + range.lowerBound * inner)
  }

  public subscript(flat i: Int) -> Float {
    get { precondition(i >= 0 && i < count); return pointer[i] }
    nonmutating set { precondition(i >= 0 && i < count); pointer[i] = newValue }
  }

  /// Largest absolute value (∞ norm), and whether every element is finite.
  public var maxAbs: Float {
    var m: Float = 0
    for i in 0..<count { m = Swift.max(m, Swift.abs(pointer[i])) }
    return m
  }

  public var isFinite: Bool {
    for i in 0..<count where !pointer[i].isFinite { return false }
    return true
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    let head = toArray().prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
    return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
  }
}

import Foundation
