// The single entry point into the HDF5 C library: one process-wide lock, errors turned into Swift
// errors, and the library's own error printing switched off.
import CHDF5
import Foundation

/// Process-wide facts about the HDF5 C library and the lock that serializes every call into it.
///
/// Thread safety: the Debian HDF5 build must be treated as not thread-safe (only a build configured
/// with `--enable-threadsafe` may be entered from two threads at once, and the project must not
/// depend on which build it gets). Every call into the C library made by this module therefore runs
/// inside `H5Library.serialized`, one recursive lock for the whole process. Objects of this module
/// (`H5File`, `H5Group`, `H5Dataset`) may be used from any thread, e.g. a background reader thread
/// and the main thread at once; calls simply take turns. Callers never need their own lock around
/// this module — but they must not call the C library directly.
public enum H5Library {
  /// Recursive because a locked operation may call another (e.g. an error path reading the error
  /// stack, or `deinit` of a handle released while a locked operation runs).
  private static let lock = NSRecursiveLock()

  /// Runs `body` with exclusive access to the HDF5 C library.
  ///
  /// Also switches HDF5's automatic error printing off for the calling thread: in a thread-safe
  /// build that setting is per thread, so it is (cheaply) re-applied on every entry.
  static func serialized<T>(_ body: () throws -> T) rethrows -> T {
    _ = exitCleanUp
    lock.lock()
    defer { lock.unlock() }
    _ = H5Eset_auto2(hid_t(H5E_DEFAULT), nil, nil)
    return try body()
  }

  /// Replaces HDF5's atexit clean-up, which closes every file still open, by one that closes only
  /// the healthy ones: closing a file cut off after a failed write crashes (H5WriteFailure.swift).
  /// Runs before the first call into the library, as `H5dont_atexit` requires. At exit the lock is
  /// only tried: a thread stopped inside the library must not hang the exit.
  private static let exitCleanUp: Void = {
    _ = H5dont_atexit()
    atexit {
      guard H5Library.lock.try() else { return }
      defer { H5Library.lock.unlock() }
      H5OpenFiles.closeHealthyFiles()
    }
  }()

  /// The version of the HDF5 library linked at run time, e.g. "1.10.8".
  public static var version: String {
    serialized {
      var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
      _ = H5get_libversion(&major, &minor, &release)
      return "\(major).\(minor).\(release)"
    }
  }

  /// Whether the linked library was built thread-safe. Informational only: this module serializes
  /// every call either way.
  public static var isThreadSafeBuild: Bool {
    serialized {
      var flag: hbool_t = false
      _ = H5is_library_threadsafe(&flag)
      return flag
    }
  }

  /// Whether the deflate (gzip) filter is present and can encode.
  public static var isDeflateAvailable: Bool {
    serialized { filterCanEncode(H5Z_filter_t(H5Z_FILTER_DEFLATE)) }
  }

  static func filterCanEncode(_ filter: H5Z_filter_t) -> Bool {
    guard H5Zfilter_avail(filter) > 0 else { return false }
    var config: UInt32 = 0
    guard H5Zget_filter_info(filter, &config) >= 0 else { return false }
    return config & UInt32(H5Z_FILTER_CONFIG_ENCODE_ENABLED) != 0
  }
}

// MARK: - Checked calls

/// Where an operation happened, carried into every error it throws.
struct H5Context {
  var operation: String
  var path: String
  var object: String?
}

extension H5Context {
  /// Throws if an `herr_t` / `htri_t` status is negative.
  @discardableResult
  func check(_ status: Int32, _ what: @autoclosure () -> String, kind: H5Error.Kind = .library) throws
    -> Int32
  {
    if status < 0 { throw error(what(), kind: kind, readStack: true) }
    return status
  }

  /// Throws if an identifier is invalid (negative); returns it otherwise.
  func checkID(_ id: hid_t, _ what: @autoclosure () -> String, kind: H5Error.Kind = .library) throws
    -> hid_t
  {
    if id < 0 { throw error(what(), kind: kind, readStack: true) }
    return id
  }

  /// An error for this context; with `readStack`, the HDF5 error stack of the failed call is
  /// attached (its innermost message is usually the one that says what went wrong).
  ///
  /// A stack that names a system error (disk full, I/O error) makes it an `.ioFailure` and cuts
  /// the file off at once (H5WriteFailure.swift), whichever operation hit it.
  func error(_ message: String, kind: H5Error.Kind, readStack: Bool = false) -> H5Error {
    let stack = readStack ? H5ErrorStack.current() : []
    if let cause = H5SystemFailure.cause(in: stack) {
      H5OpenFiles.failed(path: path, cause: cause)
      return H5Error(kind: .ioFailure, operation: operation, path: path, object: object,
                     message: "\(message): \(cause); the file was closed at once, reopen it once the cause is fixed",
                     stack: stack)
    }
    return H5Error(kind: kind, operation: operation, path: path, object: object, message: message, stack: stack)
  }
}

/// Reads the HDF5 error stack of the current thread (must be called with the lock held, right
/// after the failed call, before any other call clears the stack).
enum H5ErrorStack {
  static func current() -> [String] {
    final class Collector { var messages: [String] = [] }
    let collector = Collector()
    let walker: H5E_walk2_t = { _, entry, context in
      guard let entry, let context else { return 0 }
      let collector = Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue()
      let function = entry.pointee.func_name.map { String(cString: $0) } ?? "?"
      let description = entry.pointee.desc.map { String(cString: $0) } ?? ""
      var minor = ""
      if entry.pointee.min_num > 0 {
        var buffer = [CChar](repeating: 0, count: 256)
        var msgType = H5E_MAJOR
        if H5Eget_msg(entry.pointee.min_num, &msgType, &buffer, buffer.count) > 0 {
          minor = String(cString: buffer)
        }
      }
      var text = "\(function): \(description)"
      if !minor.isEmpty && minor != description { text += " (\(minor))" }
      collector.messages.append(text)
      return 0
    }
    let context = Unmanaged.passUnretained(collector).toOpaque()
    _ = H5Ewalk2(hid_t(H5E_DEFAULT), H5E_WALK_UPWARD, walker, context)
    _ = H5Eclear2(hid_t(H5E_DEFAULT))
    return withExtendedLifetime(collector) { collector.messages }
  }
}

// MARK: - Owned identifiers

/// Owns one HDF5 identifier and closes it exactly once (explicitly or in `deinit`).
final class H5Handle: @unchecked Sendable {  // mutable state is only touched under the library lock
  private(set) var id: hid_t
  private let closer: @convention(c) (hid_t) -> herr_t

  init(_ id: hid_t, closer: @escaping @convention(c) (hid_t) -> herr_t) {
    self.id = id
    self.closer = closer
  }

  var isOpen: Bool { H5Library.serialized { id >= 0 } }

  /// Closes the identifier; returns the library status (negative on failure), 0 if already closed.
  @discardableResult
  func close() -> herr_t {
    H5Library.serialized {
      guard id >= 0 else { return 0 }
      // An object whose file was closed with H5F_CLOSE_STRONG is already gone: nothing to do.
      let status = H5Iis_valid(id) > 0 ? closer(id) : 0
      id = -1
      return status
    }
  }

  /// Forgets the identifier without closing it, for a file that cannot be closed safely.
  func abandon() { H5Library.serialized { id = -1 } }

  deinit { close() }
}

/// A temporary identifier (dataspace, datatype, property list) closed when the scope ends.
/// Use only inside `H5Library.serialized`.
struct H5Temporary: ~Copyable {
  let id: hid_t
  private let closer: @convention(c) (hid_t) -> herr_t
  init(_ id: hid_t, _ closer: @escaping @convention(c) (hid_t) -> herr_t) {
    self.id = id
    self.closer = closer
  }
  deinit { if id >= 0 { _ = closer(id) } }
}
