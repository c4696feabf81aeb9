import Formats
import Foundation
import HDF5

/// The content identity of a targets file: its committed row count and a SHA-256 of each
/// dataset's committed rows (`H5Dataset.sha256(ofFirst:)`). It depends on the values only, so a
/// file resumed after a kill (laid out differently on disk) has the same digest as one written in
/// one go, and a changed `committed_rows` attribute or changed values are both caught.
enum TargetDigest {
  struct Digest: Equatable {
    var rows: Int
    var entries: Int
    var datasets: [String: String]
    /// One hash over the rows and every dataset's hash, for a consumer's identity.
    var combined: String {
      FileDigest.sha256(of: "rows=\(rows)\n" + datasets.keys.sorted().map { "\($0)=\(datasets[$0]!)\n" }.joined())
    }
  }

  nonisolated(unsafe) private static var cache: [String: (FileDigest.Stamp, Digest)] = [:]
  private static let lock = NSLock()

  /// The digest, computed once per process while the file is unchanged.
  static func digest(_ url: URL) throws -> Digest {
    let before = FileDigest.stamp(url.path)
    lock.lock()
    if let before, let (stamp, d) = cache[url.path], stamp == before { lock.unlock(); return d }
    lock.unlock()
    let t0 = Date()
    let d = try compute(url)
    FileDigest.account(bytes: d.rows, seconds: Date().timeIntervalSince(t0), rowStore: true)
    lock.lock()
    if let before, FileDigest.stamp(url.path) == before { cache[url.path] = (before, d) }
    lock.unlock()
    return d
  }

  static func forget() { lock.lock(); cache = [:]; lock.unlock() }

  static func compute(_ url: URL) throws -> Digest {
    let file = try H5File.open(url.path, mode: .readOnly)
    defer { try? file.close() }
    let rowsGroup = try file.openGroup("rows"), entriesGroup = try file.openGroup("entries")
    let rows = try H5ResumableWriter.committedRows(in: rowsGroup)
    let entries = try H5ResumableWriter.committedRows(in: entriesGroup)
    var d: [String: String] = [:]
    d["rows/inputs"] = try rowsGroup.openDataset("inputs", of: Int32.self).sha256(ofFirst: rows)
    d["rows/times"] = try rowsGroup.openDataset("times", of: Double.self).sha256(ofFirst: rows)
    d["rows/entry_start"] = try rowsGroup.openDataset("entry_start", of: Int64.self).sha256(ofFirst: rows)
    d["rows/entry_count"] = try rowsGroup.openDataset("entry_count", of: Int32.self).sha256(ofFirst: rows)
    d["entries/ids"] = try entriesGroup.openDataset("ids", of: Int32.self).sha256(ofFirst: entries)
    d["entries/log_probs"] = try entriesGroup.openDataset("log_probs", of: Float.self).sha256(ofFirst: entries)
    d["entries/tail_log_mass"] = try entriesGroup.openDataset("tail_log_mass", of: Float.self).sha256(ofFirst: entries)
    d["entries/committed_rows"] = String(entries)
    return Digest(rows: rows, entries: entries, datasets: d)
  }
}
