/// Byte-pair encoding of one piece: start from one token per byte and repeatedly merge the adjacent
/// pair with the lowest merge priority (the leftmost one among equals) until no pair is a merge.
///
/// Two implementations of that one rule: a scan over a small array for ordinary words, and a heap
/// with a linked list for long pieces (a long run of letters or symbols), where the scan's
/// quadratic cost would show.
enum BPEMerging {
  /// Pieces up to this many bytes use the array scan.
  static let scanLimit = 48

  /// Appends the ids of `piece` to `output`.
  @inline(__always)
  static func encode(_ piece: UnsafeBufferPointer<UInt8>, pairs: PairTable, byteTokens: UnsafePointer<Int32>,
                     into output: inout [Int32]) {
    if piece.count <= scanLimit {
      encodeByScanning(piece, pairs: pairs, byteTokens: byteTokens, into: &output)
    } else {
      encodeWithHeap(piece, pairs: pairs, byteTokens: byteTokens, into: &output)
    }
  }

  /// The array version: `ranks[i]` holds the packed merge of tokens i and i+1.
  static func encodeByScanning(_ piece: UnsafeBufferPointer<UInt8>, pairs: PairTable,
                               byteTokens: UnsafePointer<Int32>, into output: inout [Int32]) {
    let length = piece.count
    if length == 0 { return }
    withUnsafeTemporaryAllocation(of: Int32.self, capacity: length) { ids in
      withUnsafeTemporaryAllocation(of: UInt64.self, capacity: length) { merges in
        for index in 0..<length { ids[index] = byteTokens[Int(piece[index])] }
        var count = length
        for index in 0..<(count - 1) { merges[index] = pairs.lookup(ids[index], ids[index + 1]) }
        while count > 1 {
          // The packed value sorts by priority first; `<` keeps the leftmost of equal merges.
          var best = PairTable.absent
          var bestIndex = -1
          for index in 0..<(count - 1) where merges[index] < best {
            best = merges[index]
            bestIndex = index
          }
          if bestIndex < 0 { break }
          ids[bestIndex] = Int32(truncatingIfNeeded: best & 0xffff_ffff)
          // Drop token bestIndex+1 and the pair that started with it.
          var index = bestIndex + 1
          while index < count - 1 {
            ids[index] = ids[index + 1]
            merges[index] = merges[index + 1]
            index += 1
          }
          count -= 1
          if bestIndex + 1 < count {
            merges[bestIndex] = pairs.lookup(ids[bestIndex], ids[bestIndex + 1])
          }
          if bestIndex > 0 {
            merges[bestIndex - 1] = pairs.lookup(ids[bestIndex - 1], ids[bestIndex])
          }
        }
        output.append(contentsOf: UnsafeBufferPointer(start: ids.baseAddress, count: count))
      }
    }
  }

  /// The heap version: tokens form a linked list (indexed by the byte where each token starts) and
  /// a min-heap holds candidate merges as `priority << 32 | position`. Entries are not removed when
  /// their pair changes; a popped entry is used only if its pair still has that priority.
  static func encodeWithHeap(_ piece: UnsafeBufferPointer<UInt8>, pairs: PairTable,
                             byteTokens: UnsafePointer<Int32>, into output: inout [Int32]) {
    let length = piece.count
    if length == 0 { return }
    var ids = [Int32](repeating: 0, count: length)
    var next = [Int32](repeating: -1, count: length)
    var previous = [Int32](repeating: -1, count: length)
    var alive = [Bool](repeating: true, count: length)
    var heap = MinHeap()
    for index in 0..<length {
      ids[index] = byteTokens[Int(piece[index])]
      next[index] = index + 1 < length ? Int32(index + 1) : -1
      previous[index] = Int32(index - 1)
    }
    func pushPair(at position: Int) {
      let successor = Int(next[position])
      guard successor >= 0 else { return }
      let merge = pairs.lookup(ids[position], ids[successor])
      if merge != PairTable.absent { heap.push((merge >> 32) << 32 | UInt64(position)) }
    }
    for index in 0..<(length - 1) { pushPair(at: index) }

    while let entry = heap.pop() {
      let position = Int(entry & 0xffff_ffff)
      let priority = entry >> 32
      guard alive[position] else { continue }
      let successor = Int(next[position])
      guard successor >= 0 else { continue }
      let merge = pairs.lookup(ids[position], ids[successor])
      guard merge != PairTable.absent && merge >> 32 == priority else { continue }
      ids[position] = Int32(truncatingIfNeeded: merge & 0xffff_ffff)
      alive[successor] = false
      let afterSuccessor = next[successor]
      next[position] = afterSuccessor
      if afterSuccessor >= 0 { previous[Int(afterSuccessor)] = Int32(position) }
      if previous[position] >= 0 { pushPair(at: Int(previous[position])) }
      pushPair(at: position)
    }
    var position = 0
    while position >= 0 {
      output.append(ids[position])
      position = Int(next[position])
    }
  }
}

/// A binary min-heap of packed 64-bit entries.
struct MinHeap {
  private var storage: [UInt64] = []

  var isEmpty: Bool { storage.isEmpty }

  mutating func push(_ value: UInt64) {
    storage.append(value)
    var child = storage.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      if storage[parent] <= value { break }
      storage[child] = storage[parent]
      child = parent
    }
    storage[child] = value
  }

  mutating func pop() -> UInt64? {
    guard let last = storage.popLast() else { return nil }
    guard !storage.isEmpty else { return last }
    let top = storage[0]
    var parent = 0
    let count = storage.count
    while true {
      var child = 2 * parent + 1
      if child >= count { break }
      if child + 1 < count && storage[child + 1] < storage[child] { child += 1 }
      if storage[child] >= last { break }
      storage[parent] = storage[child]
      parent = child
    }
    storage[parent] = last
    return top
  }
}
