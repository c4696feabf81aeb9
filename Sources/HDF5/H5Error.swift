// The one error type of the module: what failed, where, and what HDF5 itself said.

/// An HDF5 operation that failed. Every failure of this module is thrown as an `H5Error`; nothing
/// in the module traps on bad input or a bad file.
public struct H5Error: Error, CustomStringConvertible, Sendable {
  /// What kind of failure this is, for callers that react differently (e.g. create when missing).
  public enum Kind: String, Sendable {
    /// The file does not exist.
    case fileNotFound
    /// The file exists but is not an HDF5 file (no HDF5 signature).
    case notHDF5
    /// The file has an HDF5 signature but cannot be opened (truncated, corrupted, locked, ...).
    case unreadableFile
    /// `create(..., ifExists: .fail)` on an existing file, or creating an existing object.
    case alreadyExists
    /// A group, dataset or attribute that does not exist.
    case notFound
    /// The stored element type is not the one asked for.
    case typeMismatch
    /// A buffer or shape does not match the dataset's shape, or a row range is out of bounds.
    case shapeMismatch
    /// A required filter (deflate) is not available in this HDF5 build.
    case filterUnavailable
    /// An argument this module rejects before calling HDF5 (bad shape, bad name, ...).
    case invalidArgument
    /// A write to a file opened read-only.
    case notWritable
    /// The object's file was closed.
    case closed
    /// Reading or writing the file failed at the system level (disk full, file size limit, I/O
    /// error; `systemCause` says which). The file was closed at once without writing more.
    case ioFailure
    /// Any other failure reported by the HDF5 library.
    case library
  }

  public let kind: Kind
  /// The operation that failed, e.g. "open file", "write rows", "read attribute".
  public let operation: String
  /// The HDF5 file's path.
  public let path: String
  /// The group, dataset or attribute involved, if any.
  public let object: String?
  /// This module's explanation.
  public let message: String
  /// The HDF5 error stack of the failed call, innermost (most specific) first. Empty when the
  /// error was detected by this module before calling HDF5.
  public let stack: [String]

  /// The innermost HDF5 error message, usually the most specific one.
  public var hdf5Message: String? { stack.first }

  /// The system error HDF5 reported, e.g. "No space left on device (errno 28)", if any.
  public var systemCause: String? { H5SystemFailure.cause(in: stack) }

  public var description: String {
    var text = "HDF5 \(operation) failed"
    if let object { text += " for '\(object)'" }
    text += " in \(path): \(message)"
    if let hdf5Message { text += " [HDF5: \(hdf5Message)]" }
    return text
  }
}
