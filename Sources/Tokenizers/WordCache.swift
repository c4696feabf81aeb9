/// Remembers the ids of pieces already encoded: natural text repeats its words, so most pieces are
/// looked up instead of merged. Keys are the piece's bytes and values its ids, both stored in
/// arenas the cache owns, so a lookup allocates nothing.
///
/// Not thread-safe: `BPETokenizer` guards it.
final class WordCache {
  private struct Slot {
    var hash: UInt64  // 0 marks an empty slot
    var keyOffset: Int32
    var keyLength: Int32
    var idOffset: Int32
    var idCount: Int32
  }

  private var slots: UnsafeMutablePointer<Slot>
  private var capacity: Int
  private var keyArena: [UInt8] = []
  private var idArena: [Int32] = []
  private(set) var count = 0
  /// Past this many entries (or ~256 MB of arena) the cache starts over, so memory stays bounded
  /// whatever the input.
  let maximumCount: Int

  init(maximumCount: Int = 1 << 20) {
    self.maximumCount = maximumCount
    capacity = 1 << 12
    slots = .allocate(capacity: capacity)
    slots.initialize(repeating: Slot(hash: 0, keyOffset: 0, keyLength: 0, idOffset: 0, idCount: 0),
                     count: capacity)
  }

  deinit { slots.deallocate() }

  /// A 64-bit hash of some bytes, never 0. Reads eight bytes at a time.
  @inline(__always)
  static func hash(_ base: UnsafePointer<UInt8>, _ length: Int) -> UInt64 {
    var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(length)
    var index = 0
    let raw = UnsafeRawPointer(base)
    while index + 8 <= length {
      let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
      h = (h ^ word) &* 0xBF58_476D_1CE4_E5B9
      h ^= h >> 29
      index += 8
    }
    if index < length {
      var tail: UInt64 = 0
      var shift: UInt64 = 0
      while index < length {
        tail |= UInt64(base[index]) << shift
        shift += 8
        index += 1
      }
      h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
    }
    h ^= h >> 31
    h = h &* 0xBF58_476D_1CE4_E5B9
    h ^= h >> 32
    return h == 0 ? 1 : h
  }

  /// Appends the cached ids of a piece to `output` and returns true, or returns false.
  @inline(__always)
  func appendCached(_ base: UnsafePointer<UInt8>, _ length: Int, hash: UInt64,
                    to output: inout [Int32]) -> Bool {
    var index = Int(truncatingIfNeeded: hash) & (capacity - 1)
    while true {
      let slot = slots[index]
      if slot.hash == 0 { return false }
      if slot.hash == hash && Int(slot.keyLength) == length {
        let same = keyArena.withUnsafeBufferPointer { keys in
          memoryEqual(keys.baseAddress! + Int(slot.keyOffset), base, length)
        }
        if same {
          idArena.withUnsafeBufferPointer { ids in
            output.append(contentsOf: UnsafeBufferPointer(start: ids.baseAddress! + Int(slot.idOffset),
                                                          count: Int(slot.idCount)))
          }
          return true
        }
      }
      index = (index + 1) & (capacity - 1)
    }
  }

  /// Stores the ids of a piece (which must not be cached yet).
  func insert(_ base: UnsafePointer<UInt8>, _ length: Int, hash: UInt64, ids: ArraySlice<Int32>) {
    if count >= maximumCount || keyArena.count + length > Int(Int32.max) / 8
      || idArena.count + ids.count > Int(Int32.max) / 16 {
      removeAll()
    }
    if (count + 1) * 2 > capacity { grow() }
    let slot = Slot(hash: hash, keyOffset: Int32(keyArena.count), keyLength: Int32(length),
                    idOffset: Int32(idArena.count), idCount: Int32(ids.count))
    keyArena.append(contentsOf: UnsafeBufferPointer(start: base, count: length))
    idArena.append(contentsOf: ids)
    var index = Int(truncatingIfNeeded: hash) & (capacity - 1)
    while slots[index].hash != 0 { index = (index + 1) & (capacity - 1) }
    slots[index] = slot
    count += 1
  }

  func removeAll() {
    for index in 0..<capacity { slots[index].hash = 0 }
    keyArena.removeAll(keepingCapacity: true)
    idArena.removeAll(keepingCapacity: true)
    count = 0
  }

  private func grow() {
    let old = slots, oldCapacity = capacity
    capacity *= 2
    slots = .allocate(capacity: capacity)
    slots.initialize(repeating: Slot(hash: 0, keyOffset: 0, keyLength: 0, idOffset: 0, idCount: 0),
                     count: capacity)
    for oldIndex in 0..<oldCapacity where old[oldIndex].hash != 0 {
      var index = Int(truncatingIfNeeded: old[oldIndex].hash) & (capacity - 1)
      while slots[index].hash != 0 { index = (index + 1) & (capacity - 1) }
      slots[index] = old[oldIndex]
    }
    old.deallocate()
  }
}

/// Byte-wise equality of two memory ranges (short: pieces are words).
@inline(__always)
func memoryEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ length: Int) -> Bool {
  var index = 0
  let rawA = UnsafeRawPointer(a), rawB = UnsafeRawPointer(b)
  while index + 8 <= length {
    if rawA.loadUnaligned(fromByteOffset: index, as: UInt64.self)
      != rawB.loadUnaligned(fromByteOffset: index, as: UInt64.self) { return false }
    index += 8
  }
  while index < length {
    if a[index] != b[index] { return false }
    index += 1
  }
  return true
}
