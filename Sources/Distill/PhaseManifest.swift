import Crypto
import Formats
import Foundation
import HDF5

/// The record a phase writes last, atomically, when it completes: what it consumed (its identity:
/// recipe sections, seeds, the hashes of the files it read) and what it produced (every file with
/// its size and SHA-256; for incrementally written HDF5 files, the committed rows and a hash of
/// each dataset's committed rows). A phase is done only when its manifest exists, says the same
/// consumed identity, and every output still matches. No time stamps: an interrupted and resumed
/// run writes the same manifest as an uninterrupted one.
///
///     {
///       "consumed" : { "input:data/tokens.h5" : "9f2c…", "recipe.model" : "51be…", "seed" : "8812…" },
///       "format" : 1,
///       "outputs" : [ { "bytes" : 5236, "path" : "teacher/model/model.safetensors", "sha256" : "0c4d…" }, … ],
///       "phase" : "teacher"
///     }
public struct PhaseManifest: Codable, Equatable, Sendable {
  public var format = 1
  public var phase: String
  public var consumed: [String: String]
  public var outputs: [Output]

  public struct Output: Codable, Equatable, Sendable {
    /// Relative to the run folder (absolute for a file outside it, e.g. a recipe's `data.path`).
    public var path: String
    /// Whole-file hash; for a row store, the hash of its per-dataset hashes and row counts.
    public var sha256: String
    public var bytes: Int?
    /// Row stores (targets.h5): committed rows and SHA-256 of each dataset's committed rows.
    public var rows: Int?
    public var datasets: [String: String]?
  }

  public init(phase: String, consumed: [String: String], outputs: [Output]) {
    self.phase = phase; self.consumed = consumed; self.outputs = outputs.sorted { $0.path < $1.path }
  }

  public func output(_ path: String) -> Output? { outputs.first { $0.path == path } }

  public func encoded() throws -> Data {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try enc.encode(self) + Data("\n".utf8)
  }
}

/// SHA-256 of files, each computed at most once per process while the file is unchanged (same
/// inode, size, modification and change times): a file is hashed when its phase completes and
/// when a later phase first reads it, not on every use.
public enum FileDigest {
  struct Stamp: Equatable { var inode: UInt64; var size: Int64; var mtime: Int64; var ctime: Int64 }
  nonisolated(unsafe) private static var cache: [String: (Stamp, String)] = [:]
  private static let lock = NSLock()
  /// Bytes of whole files hashed by this process, target rows hashed, and the time it took (the
  /// overhead of the integrity checks, logged at the end of a run).
  nonisolated(unsafe) public private(set) static var bytesHashed = 0
  nonisolated(unsafe) public private(set) static var rowsHashed = 0
  nonisolated(unsafe) public private(set) static var secondsHashing = 0.0

  static func account(bytes: Int, seconds: Double, rowStore: Bool = false) {
    lock.lock()
    if rowStore { rowsHashed += bytes } else { bytesHashed += bytes }
    secondsHashing += seconds
    lock.unlock()
  }

  static func stamp(_ path: String) -> Stamp? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return Stamp(inode: UInt64(info.st_ino), size: Int64(info.st_size),
                 mtime: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
                 ctime: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec))
  }

  public static func size(_ url: URL) -> Int? { stamp(url.path).map { Int($0.size) } }

  /// Hex SHA-256 of the file's bytes.
  public static func sha256(_ url: URL) throws -> String {
    let path = url.path
    guard let before = stamp(path) else { throw FileError(path: path, operation: "read", code: errno) }
    lock.lock()
    if let (s, digest) = cache[path], s == before { lock.unlock(); return digest }
    lock.unlock()
    let t0 = Date()
    let handle = try FileError.wrap(path, "open") { try FileHandle(forReadingFrom: url) }
    defer { try? handle.close() }
    var hasher = SHA256()
    var total = 0
    while true {
      let chunk = try FileError.wrap(path, "read") { try handle.read(upToCount: 4 << 20) } ?? Data()
      if chunk.isEmpty { break }
      hasher.update(data: chunk)
      total += chunk.count
    }
    let digest = hex(hasher.finalize())
    account(bytes: total, seconds: Date().timeIntervalSince(t0))
    lock.lock()
    if let after = stamp(path), after == before { cache[path] = (before, digest) }
    lock.unlock()
    return digest
  }

  /// Forgets every cached hash (a test that changes a file within the same second).
  public static func forget() {
    lock.lock(); cache = [:]; lock.unlock()
    TargetDigest.forget()
  }

  public static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
    digest.map { String(format: "%02x", $0) }.joined()
  }

  public static func sha256(of text: String) -> String { hex(SHA256.hash(data: Data(text.utf8))) }

  /// SHA-256 of a value's JSON with sorted keys: the identity of a recipe section.
  public static func sha256<T: Encodable>(json value: T) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    return hex(SHA256.hash(data: try enc.encode(value)))
  }
}
