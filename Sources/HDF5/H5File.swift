// Opening, creating, flushing and closing HDF5 files.
import CHDF5
import Foundation

/// An open HDF5 file. It is also the root group ("/"), so groups, datasets and attributes can be
/// created and opened on it directly (see `H5Container`).
///
/// Lifetime: the file closes when `close()` is called or when the `H5File` and every group,
/// dataset and attribute view obtained from it are released (they keep it alive). After `close()`,
/// every object of the file throws `H5Error.Kind.closed`.
///
/// Write failures: when a write fails at the system level (disk full, file size limit, I/O error)
/// the operation throws `.ioFailure` naming the cause, and the file is closed at once without
/// writing anything more to disk (see H5WriteFailure.swift); every later use throws `.closed`.
/// Reopen the file (in a new process) once the cause is fixed.
///
/// Thread safety: may be shared between threads; calls are serialized (see `H5Library`).
public final class H5File: H5Container, @unchecked Sendable {
  /// What `create` does when the file already exists.
  public enum CreateMode: Sendable {
    /// Replace the existing file with an empty one.
    case truncate
    /// Throw `H5Error.Kind.alreadyExists`.
    case failIfExists
  }

  /// How `open` opens an existing file.
  public enum OpenMode: Sendable {
    case readOnly
    case readWrite
  }

  /// The file's path on disk, as given.
  public let path: String
  /// Whether the file was opened for writing.
  public let isWritable: Bool
  /// The HDF5 path of the root group: "/".
  public var name: String { "/" }
  /// The file itself (as a container, it is its own file).
  public var file: H5File { self }

  let handle: H5Handle
  /// Why the file was cut off after a failed write; nil while it is usable. Lock held.
  private(set) var writeFailure: String?

  private init(path: String, id: hid_t, writable: Bool) {
    self.path = path
    self.isWritable = writable
    self.handle = H5Handle(id, closer: H5Fclose)
    H5OpenFiles.register(self)
  }

  deinit {
    try? close()
    H5Library.serialized { H5OpenFiles.unregister(self) }
  }

  /// Creates a new, empty HDF5 file.
  public static func create(_ path: String, mode: CreateMode = .failIfExists) throws -> H5File {
    try H5Library.serialized {
      let context = H5Context(operation: "create file", path: path)
      if mode == .failIfExists && FileManager.default.fileExists(atPath: path) {
        throw context.error("the file already exists", kind: .alreadyExists)
      }
      try refuseIfCutOff(context)
      let fapl = try fileAccessProperties(context)
      let flags = mode == .truncate ? pgm_h5f_acc_trunc() : pgm_h5f_acc_excl()
      let id = try context.checkID(H5Fcreate(path, flags, pgm_h5p_default(), fapl.id),
                                   "cannot create the file")
      closeOnExec(id)
      return H5File(path: path, id: id, writable: true)
    }
  }

  /// Opens an existing HDF5 file.
  ///
  /// Throws `.fileNotFound` if there is no such file, `.notHDF5` if it is not an HDF5 file and
  /// `.unreadableFile` if it looks like HDF5 but cannot be opened (truncated, corrupted, or
  /// locked by another process that has it open for writing).
  public static func open(_ path: String, mode: OpenMode = .readOnly) throws -> H5File {
    try H5Library.serialized {
      let context = H5Context(operation: "open file", path: path)
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw context.error("the file does not exist", kind: .fileNotFound)
      }
      if isDirectory.boolValue { throw context.error("the path is a directory", kind: .notHDF5) }
      let signature = H5Fis_hdf5(path)
      if signature == 0 { throw context.error("the file is not an HDF5 file", kind: .notHDF5) }
      if signature < 0 {
        throw context.error("the file cannot be read", kind: .unreadableFile, readStack: true)
      }
      try refuseIfCutOff(context)
      let fapl = try fileAccessProperties(context)
      let flags = mode == .readWrite ? pgm_h5f_acc_rdwr() : pgm_h5f_acc_rdonly()
      let id = H5Fopen(path, flags, fapl.id)
      if id < 0 {
        throw context.error("the file is truncated, corrupted or locked", kind: .unreadableFile,
                            readStack: true)
      }
      if mode == .readWrite {
        // A writer killed inside a flush can leave the superblock's end of allocated space (EOA)
        // behind the blocks the flush already wrote and indexed (HDF5 writes raw chunks and index
        // nodes before the superblock). Dropping those uncommitted chunks then hands space past
        // the EOA to the free-space manager, and the next chunk allocated there fails to flush
        // ("H5FD_write: addr overflow, addr = …, eoa = …", seen in CrashResumeTests). Raising the
        // EOA to the end of the file first keeps every such block inside the allocated space.
        if H5Fincrement_filesize(id, 0) < 0 {
          H5Fclose(id)
          throw context.error("cannot extend the file's allocated space to its size", kind: .library, readStack: true)
        }
      }
      closeOnExec(id)
      return H5File(path: path, id: id, writable: mode == .readWrite)
    }
  }

  /// Whether the file is still open.
  public var isOpen: Bool { handle.isOpen }

  /// Writes every buffered change (raw data and metadata) from HDF5's caches to the file.
  ///
  /// After `flush()` returns, the file on disk is complete and consistent as of this moment: a
  /// process killed afterwards (even with `kill -9`) leaves a readable file containing everything
  /// written before the flush. With `durable: true` the data is also `fsync`ed to the storage
  /// device, so it survives a power loss or OS crash, not only a killed process.
  public func flush(durable: Bool = false) throws {
    try H5Library.serialized {
      let context = H5Context(operation: "flush", path: path)
      let id = try openID(context)
      try context.check(H5Fflush(id, H5F_SCOPE_GLOBAL), "cannot flush the file")
      guard durable else { return }
      var raw: UnsafeMutableRawPointer?
      try context.check(H5Fget_vfd_handle(id, pgm_h5p_default(), &raw),
                        "cannot get the file descriptor")
      guard let raw else { throw context.error("no file descriptor", kind: .library) }
      let descriptor = raw.assumingMemoryBound(to: Int32.self).pointee  // the sec2 driver's `int fd`
      if fsync(descriptor) != 0 {
        // The kernel may have dropped the pages it could not write: nothing more may be trusted.
        let cause = "\(String(cString: strerror(errno))) (errno \(errno))"
        cutOff(after: "fsync failed: " + cause)
        throw context.error("fsync failed: \(cause); the file was closed at once, reopen it once the cause is fixed",
                            kind: .ioFailure)
      }
    }
  }

  /// Closes the file and every group, dataset and attribute view of it (`H5F_CLOSE_STRONG`).
  /// Buffered data is written first. Closing twice is allowed; the second call does nothing, and so
  /// does closing a file already closed by a write failure (that failure was thrown already).
  public func close() throws {
    try H5Library.serialized {  // one locked section, so the error stack is still this call's
      let context = H5Context(operation: "close file", path: path)
      guard handle.id >= 0 else { return }
      if isWritable {
        // Flush before closing: a flush that fails cuts the file off, whereas an H5Fclose that
        // fails would leave dangling identifiers behind (H5WriteFailure.swift).
        do {
          try context.check(H5Fflush(handle.id, H5F_SCOPE_GLOBAL), "cannot write the file's buffered data")
        } catch let error as H5Error {
          cutOff(after: error.systemCause ?? error.message)  // also when no system error was named
          throw error
        }
      }
      if handle.close() < 0 {
        // Its identifiers may now dangle: the datasets of the file must not close theirs either.
        writeFailure = "closing failed"
        throw context.error("closing failed", kind: .library, readStack: true)
      }
    }
  }

  /// Cuts the file off after a failed write (H5WriteFailure.swift): nothing more reaches the disk,
  /// the identifiers of the file and its datasets are abandoned, never closed, and every later use
  /// throws. Idempotent. Call with the library lock held.
  func cutOff(after cause: String) {
    guard writeFailure == nil, handle.id >= 0 else { return }
    writeFailure = cause
    H5Severing.redirectToMemory(handle.id, cause: cause)
    handle.abandon()
    _ = H5Eclear2(hid_t(H5E_DEFAULT))
  }

  /// The file identifier; throws `.closed` after `close()` or a write failure. Call with the
  /// library lock held.
  func openID(_ context: H5Context) throws -> hid_t {
    let id = handle.id
    if let writeFailure {
      throw context.error("the file was closed after a failed write (\(writeFailure)); reopen it once the cause "
                            + "is fixed", kind: .closed)
    }
    guard id >= 0 else { throw context.error("the file was closed", kind: .closed) }
    return id
  }

  /// Throws `.ioFailure` if this process cut the file at `context.path` off after a failed write:
  /// HDF5 still holds that file's broken state and would reuse it (H5WriteFailure.swift).
  private static func refuseIfCutOff(_ context: H5Context) throws {
    guard let cause = H5OpenFiles.cutOffCause(path: context.path) else { return }
    throw context.error("this process stopped using the file after a failed write (\(cause)) and cannot open it "
                          + "again; run the program again to reopen it", kind: .ioFailure)
  }

  /// Throws `.notWritable` unless the file was opened for writing.
  func requireWritable(_ context: H5Context) throws {
    if !isWritable { throw context.error("the file was opened read-only", kind: .notWritable) }
  }

  /// File access properties: closing the file closes every object in it, so `close()` is final.
  /// Marks the file's descriptor close-on-exec. HDF5 opens it without O_CLOEXEC and holds an
  /// flock on it (shared for reading, exclusive for writing): a child process started while the
  /// file is open would inherit the descriptor and keep the lock after this process closed the
  /// file, and this process's next open of the file would fail with "unable to lock file".
  private static func closeOnExec(_ id: hid_t) {
    var raw: UnsafeMutableRawPointer?
    guard H5Fget_vfd_handle(id, pgm_h5p_default(), &raw) >= 0, let raw else { return }
    let descriptor = raw.assumingMemoryBound(to: Int32.self).pointee  // the sec2 driver's `int fd`
    let flags = fcntl(descriptor, F_GETFD)
    if flags >= 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
  }

  private static func fileAccessProperties(_ context: H5Context) throws -> H5Temporary {
    let fapl = H5Temporary(try context.checkID(H5Pcreate(pgm_h5p_file_access()),
                                               "cannot create file access properties"), H5Pclose)
    try context.check(H5Pset_fclose_degree(fapl.id, H5F_CLOSE_STRONG), "cannot set close degree")
    // No HDF5 file locks (flock on every open file). Who may write is decided above this layer:
    // a run folder admits one process (Distill's RunLock) and every other file is written under a
    // temporary name and renamed into place. HDF5's own locks only added failures: "unable to
    // lock file" for a run whose targets someone was reading with h5py, and, since the lock
    // belongs to the open file description, for any open after a child process inherited the
    // descriptor (a test spawning children while another test had an HDF5 file open).
    try context.check(H5Pset_file_locking(fapl.id, false, true), "cannot turn file locking off")
    return fapl
  }
}
