/// Integer token tensors and the embedding lookup.
public struct TokenTensor: Sendable, Equatable {
  public var shape: [Int]
  public var values: [Int32]

  public init(shape: [Int], values: [Int32]) {
    precondition(shape.reduce(1, *) == values.count, "TokenTensor \(shape) with \(values.count) values")
    self.shape = shape
    self.values = values
  }

  public init(shape: [Int], repeating v: Int32) {
    self.init(shape: shape, values: [Int32](repeating: v, count: shape.reduce(1, *)))
  }

  public var count: Int { values.count }
  public subscript(_ i: Int, _ j: Int) -> Int32 {
    get { values[i * shape[1] + j] }
    set { values[i * shape[1] + j] = newValue }
  }
}

extension Graph {
  /// table[ids]: table [V, D], ids of any shape → [ids..., D]. Backward scatter-adds into the table.
  public func embedding(_ table: Var, _ ids: TokenTensor) -> Var {
    let v = table.shape[0], d = table.shape[1]
    for id in ids.values { precondition(id >= 0 && Int(id) < v, "embedding: token \(id) outside vocabulary \(v)") }
    let y = Tensor(uninitialized: ids.shape + [d])
    let tp = table.value.pointer, yp = y.pointer
    ids.values.withUnsafeBufferPointer { idp in
      Parallel.forRange(ids.count, grain: max(1, 8192 / d)) { range in
        for i in range { (yp + i * d).update(from: tp + Int(idp[i]) * d, count: d) }
      }
    }
    return record(y, table) { g, dy in
      guard let (dt, acc) = g.gradientTarget(table) else { return }
      if !acc { dt.pointer.update(repeating: 0, count: dt.count) }
      // Split over feature columns so two threads never write the same element.
      let dtp = dt.pointer, dyp = dy.pointer
      ids.values.withUnsafeBufferPointer { idp in
        Parallel.forRange(d, grain: 64) { cols in
          for i in 0..<ids.count {
            let row = dtp + Int(idp[i]) * d, src = dyp + i * d
            for c in cols { row[c] += src[c] }
          }
        }
      }
    }
  }
}
