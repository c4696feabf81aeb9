/// Gives each distinct byte string a dense index (0, 1, 2, … in order of first appearance), without
/// allocating per lookup: the trainer counts millions of pieces, most of them repeats.
final class ByteStringIndex {
  private var slots: [Int32]  // index + 1, or 0 for an empty slot
  private var slotHashes: [UInt64]
  private(set) var keyStorage: [UInt8] = []
  private(set) var keyStarts: [Int] = [0]

  var count: Int { keyStarts.count - 1 }

  init() {
    slots = [Int32](repeating: 0, count: 1 << 12)
    slotHashes = [UInt64](repeating: 0, count: 1 << 12)
  }

  /// The index of these bytes, adding them if new.
  func index(of piece: UnsafeBufferPointer<UInt8>) -> Int32 {
    let length = piece.count
    let base = piece.baseAddress!
    let hash = WordCache.hash(base, length)
    let mask = slots.count - 1
    var position = Int(truncatingIfNeeded: hash) & mask
    while slots[position] != 0 {
      if slotHashes[position] == hash {
        let index = Int(slots[position] - 1)
        let start = keyStarts[index], end = keyStarts[index + 1]
        if end - start == length
          && keyStorage.withUnsafeBufferPointer({ memoryEqual($0.baseAddress! + start, base, length) }) {
          return Int32(index)
        }
      }
      position = (position + 1) & mask
    }
    let index = Int32(count)
    keyStorage.append(contentsOf: piece)
    keyStarts.append(keyStorage.count)
    slots[position] = index + 1
    slotHashes[position] = hash
    if count * 2 > slots.count { grow() }
    return index
  }

  /// The bytes of entry `index`.
  func key(_ index: Int) -> ArraySlice<UInt8> {
    keyStorage[keyStarts[index]..<keyStarts[index + 1]]
  }

  private func grow() {
    let oldSlots = slots, oldHashes = slotHashes
    slots = [Int32](repeating: 0, count: oldSlots.count * 2)
    slotHashes = [UInt64](repeating: 0, count: oldSlots.count * 2)
    let mask = slots.count - 1
    for old in 0..<oldSlots.count where oldSlots[old] != 0 {
      var position = Int(truncatingIfNeeded: oldHashes[old]) & mask
      while slots[position] != 0 { position = (position + 1) & mask }
      slots[position] = oldSlots[old]
      slotHashes[position] = oldHashes[old]
    }
  }
}
