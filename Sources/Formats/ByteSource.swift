#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Random access to the bytes of a file or a buffer. Readers use it to fetch exactly the ranges
/// they need, so that opening a multi-gigabyte file costs only its header.
protocol ByteSource: Sendable {
  /// A name for error messages (the path, or a caller-given label for buffers).
  var name: String { get }
  var size: Int { get }
  /// Exactly `count` bytes starting at `offset`; throws `ByteSourceError` if the range is not
  /// inside the source (checked before anything is allocated).
  func read(at offset: Int, count: Int) throws -> [UInt8]
}

struct ByteSourceError: Error, CustomStringConvertible {
  let description: String
}

extension ByteSource {
  /// Throws unless `offset ..< offset + count` lies inside the source.
  func checkRange(_ offset: Int, _ count: Int) throws {
    let (end, overflow) = offset.addingReportingOverflow(count)
    guard offset >= 0, count >= 0, !overflow, end <= size else {
      throw ByteSourceError(description: "\(name): byte range \(offset) + \(count) lies outside the \(size)-byte file")
    }
  }
}

/// A byte array in memory.
struct MemoryByteSource: ByteSource {
  let bytes: [UInt8]
  let name: String
  var size: Int { bytes.count }

  func read(at offset: Int, count: Int) throws -> [UInt8] {
    try checkRange(offset, count)
    return Array(bytes[offset ..< offset + count])
  }
}

/// A read-only file accessed with `pread`: no shared file position, so concurrent reads are safe,
/// and unlike a memory map a file truncated behind our back gives an error, not a SIGBUS.
final class FileByteSource: ByteSource {
  let name: String
  let size: Int
  private let descriptor: Int32

  init(url: URL) throws {
    name = url.path
    let fd = open(url.path, O_RDONLY)
    guard fd >= 0 else {
      throw ByteSourceError(description: "\(url.path): cannot open (\(String(cString: strerror(errno))))")
    }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      close(fd)
      throw ByteSourceError(description: "\(url.path): cannot stat")
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      close(fd)
      throw ByteSourceError(description: "\(url.path): not a regular file")
    }
    descriptor = fd
    size = Int(info.st_size)
  }

  deinit { close(descriptor) }

  func read(at offset: Int, count: Int) throws -> [UInt8] {
    try checkRange(offset, count)
    var failure: String?
    if count == 0 { return [] }
    let result = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      guard let base = buffer.baseAddress else { initialized = 0; return }
      var done = 0
      while done < count {
        let n = pread(descriptor, base + done, count - done, off_t(offset + done))
        if n < 0 && errno == EINTR { continue }
        if n <= 0 {
          failure = n == 0 ? "file ended early (was it truncated while open?)" : String(cString: strerror(errno))
          break
        }
        done += n
      }
      // Zero the tail on failure so the buffer is fully initialised; it is discarded below.
      if done < count { (base + done).initialize(repeating: 0, count: count - done) }
      initialized = count
    }
    if let failure {
      throw ByteSourceError(description: "\(name): reading \(count) bytes at \(offset) failed: \(failure)")
    }
    return result
  }
}
