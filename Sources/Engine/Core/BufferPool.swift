import Foundation

/// Float32 memory blocks, recycled by size class.
///
/// A training step asks for the same set of sizes every time; after the first step every request is
/// served from a free list, so the hot loop neither calls `malloc` for data nor touches fresh pages.
/// Blocks come back automatically when the last `Storage` referring to them goes away.
final class BufferPool: @unchecked Sendable {
  static let shared = BufferPool()

  private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
  private var freeBytes = 0
  private let lock = NSLock()
  /// Free blocks beyond this are returned to the system (keeps varying-shape workloads bounded).
  var retainLimitBytes = 2 << 30

  /// Size classes grow geometrically (8 per doubling, ≤ 9% waste) so that slightly different
  /// lengths (packed sampling) share blocks instead of each creating a new class.
  static func sizeClass(for count: Int) -> Int {
    if count <= 64 { return 64 }
    let bits = Int.bitWidth - (count - 1).leadingZeroBitCount  // 2^(bits-1) < count <= 2^bits
    let step = max(1, 1 << max(0, bits - 4))  // 8 classes per doubling
    return (count + step - 1) / step * step
  }

  func allocate(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
    let cls = BufferPool.sizeClass(for: count)
    lock.lock()
    if var list = free[cls], let p = list.popLast() {
      free[cls] = list
      freeBytes -= cls * 4
      lock.unlock()
      return (p, cls)
    }
    lock.unlock()
    let raw = UnsafeMutableRawPointer.allocate(byteCount: cls * 4, alignment: 64)
    return (raw.bindMemory(to: Float.self, capacity: cls), cls)
  }

  func release(_ p: UnsafeMutablePointer<Float>, sizeClass cls: Int) {
    lock.lock()
    if freeBytes + cls * 4 > retainLimitBytes {
      lock.unlock()
      UnsafeMutableRawPointer(p).deallocate()
      return
    }
    free[cls, default: []].append(p)
    freeBytes += cls * 4
    lock.unlock()
  }

  /// Returns every free block to the system (e.g. between phases with very different shapes).
  func trim() {
    lock.lock()
    let lists = free
    free = [:]
    freeBytes = 0
    lock.unlock()
    for (_, list) in lists { for p in list { UnsafeMutableRawPointer(p).deallocate() } }
  }
}

/// A reference-counted block of Float32 from the pool. Tensors share it; views are offsets into it.
public final class Storage: @unchecked Sendable {
  public let pointer: UnsafeMutablePointer<Float>
  public let capacity: Int
  private let sizeClass: Int

  init(count: Int) {
    (pointer, sizeClass) = BufferPool.shared.allocate(max(count, 1))
    capacity = count
  }

  deinit { BufferPool.shared.release(pointer, sizeClass: sizeClass) }
}

public enum Memory {
  /// Frees the cached blocks of the pool.
  public static func trimPool() { BufferPool.shared.trim() }
}
