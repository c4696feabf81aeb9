// A checksum of a dataset's leading rows, so that a higher layer can record one in a manifest
// when rows are committed and check later that the file still holds exactly those rows.
import Crypto

extension H5Dataset {
  /// SHA-256 (64 lowercase hex digits) of the first `rows` rows: the bytes of their values in
  /// row-major order as `read(rows:)` returns them (native, little-endian on every platform this
  /// project runs on). It depends on the values only, not on chunking or compression, so a
  /// repacked copy hashes the same; h5py gives it as
  /// `hashlib.sha256(ds[:rows].tobytes()).hexdigest()`.
  ///
  /// Reads `batchRows` rows at a time (about 4 MiB by default) into one reused buffer. Throws
  /// `.shapeMismatch` if the dataset has fewer rows. Pair it with `rowCount` or
  /// `H5ResumableWriter.committedRows(in:)` for the row count to record.
  public func sha256(ofFirst rows: Int, batchRows: Int? = nil) throws -> String {
    try H5Library.serialized {
      let available = try rowCount
      guard rows >= 0, rows <= available else {
        throw H5Error(kind: .shapeMismatch, operation: "hash rows", path: file.path, object: name,
                      message: "\(rows) rows asked for, the dataset has \(available)", stack: [])
      }
      let rowBytes = max(1, elementsPerRow * MemoryLayout<Element>.stride)
      let batch = max(1, batchRows ?? (4 << 20) / rowBytes)
      var hasher = SHA256()
      var buffer = [Element](repeating: Element.h5Zero, count: min(batch, max(rows, 1)) * elementsPerRow)
      var start = 0
      while start < rows {
        let range = start ..< min(rows, start + batch)
        try buffer.withUnsafeMutableBufferPointer { values in
          let count = try read(rows: range, into: values)
          hasher.update(bufferPointer: UnsafeRawBufferPointer(start: values.baseAddress,
                                                              count: count * MemoryLayout<Element>.stride))
        }
        start = range.upperBound
      }
      return hasher.finalize().map { byte in
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
      }.joined()
    }
  }
}
