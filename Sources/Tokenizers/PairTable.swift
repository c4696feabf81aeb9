/// An open-addressing hash map from a pair of token ids to the merge they take part in, packed as
/// `priority << 32 | result`. It is the inner loop of BPE, so keys and values are plain integers
/// (no `Hashable` hashing, no optionals) in memory the table owns.
final class PairTable: @unchecked Sendable {
  // Written only while the table is built (inside one initialiser or derivation, on one thread),
  // read-only afterwards: that is what makes the unchecked `Sendable` sound.
  private var keys: UnsafeMutablePointer<UInt64>
  private var values: UnsafeMutablePointer<UInt64>
  private var capacity: Int
  private(set) var count = 0

  /// Marks an empty slot. No real key has it: token ids are below 2³¹.
  private static let emptyKey = UInt64.max
  /// What `lookup` returns for a pair that is not a merge. Compares above every real entry.
  static let absent = UInt64.max

  init(minimumCapacity: Int = 16) {
    var size = 16
    while size < minimumCapacity * 2 { size <<= 1 }
    capacity = size
    keys = .allocate(capacity: size)
    keys.initialize(repeating: PairTable.emptyKey, count: size)
    values = .allocate(capacity: size)
    values.initialize(repeating: 0, count: size)
  }

  deinit {
    keys.deallocate()
    values.deallocate()
  }

  @inline(__always)
  static func key(_ left: Int32, _ right: Int32) -> UInt64 {
    UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
  }

  @inline(__always)
  static func pack(priority: Int32, result: Int32) -> UInt64 {
    UInt64(UInt32(bitPattern: priority)) << 32 | UInt64(UInt32(bitPattern: result))
  }

  @inline(__always)
  private func slot(for key: UInt64) -> Int {
    // Fibonacci hashing: the multiply spreads both ids over the high bits.
    Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 20) & (capacity - 1)
  }

  /// The packed merge for `left` followed by `right`, or `PairTable.absent`.
  @inline(__always)
  func lookup(_ left: Int32, _ right: Int32) -> UInt64 {
    let wanted = PairTable.key(left, right)
    var index = slot(for: wanted)
    while true {
      let found = keys[index]
      if found == wanted { return values[index] }
      if found == PairTable.emptyKey { return PairTable.absent }
      index = (index + 1) & (capacity - 1)
    }
  }

  /// Adds a merge; returns false (and keeps the first) if the pair is already present.
  @discardableResult
  func insert(_ left: Int32, _ right: Int32, priority: Int32, result: Int32) -> Bool {
    if (count + 1) * 2 > capacity { grow() }
    let key = PairTable.key(left, right)
    var index = slot(for: key)
    while keys[index] != PairTable.emptyKey {
      if keys[index] == key { return false }
      index = (index + 1) & (capacity - 1)
    }
    keys[index] = key
    values[index] = PairTable.pack(priority: priority, result: result)
    count += 1
    return true
  }

  private func grow() {
    let oldKeys = keys, oldValues = values, oldCapacity = capacity
    capacity = oldCapacity * 2
    keys = .allocate(capacity: capacity)
    keys.initialize(repeating: PairTable.emptyKey, count: capacity)
    values = .allocate(capacity: capacity)
    values.initialize(repeating: 0, count: capacity)
    for old in 0..<oldCapacity where oldKeys[old] != PairTable.emptyKey {
      var index = slot(for: oldKeys[old])
      while keys[index] != PairTable.emptyKey { index = (index + 1) & (capacity - 1) }
      keys[index] = oldKeys[old]
      values[index] = oldValues[old]
    }
    oldKeys.deallocate()
    oldValues.deallocate()
  }
}
