// What happens to a file after a write fails at the system level (disk full, file size limit,
// I/O error): it is cut off from the disk at once, never closed, and every later use throws.
//
// Why: HDF5 1.10 does not survive a failed flush. Once a flush could not write (H5Fflush, or the
// flush inside H5Dclose / H5Fclose), its metadata cache is left inconsistent ("slist already
// enabled?"), every later close of the file fails, and a close that fails frees the object while
// leaving its identifier registered. The next close of that identifier — a dataset released after
// its file, H5F_CLOSE_STRONG closing the file's objects, or HDF5's own atexit clean-up closing
// whatever is still open — dereferences freed memory: the segfault (exit 139) seen on a full disk.
//
// So after the first such failure nothing more of this process may touch the file through HDF5:
// - its descriptor is pointed at an anonymous memory file (`dup2`), so that nothing written
//   afterwards reaches the disk: the file stays as the failure left it, like a writer killed in
//   the middle of a flush. Reopened, it usually resumes after its last commit; when the flush had
//   already rewritten index nodes in place to point at space it never wrote, it is refused with
//   an error that says so (which is why `H5ResumableWriter` checks for room before it flushes);
// - its identifiers (file and datasets) are abandoned, not closed;
// - HDF5's atexit clean-up is replaced by our own (`H5Library`), which closes the healthy files
//   only;
// - reopening the same file in this process is refused, because HDF5 would hand back the broken
//   file state it still holds (it recognises a file by device and inode).
import CHDF5
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The system error behind a failed HDF5 call, as HDF5's file driver reports it.
enum H5SystemFailure {
  /// "No space left on device (errno 28)" from a stack entry holding
  /// "errno = 28, error message = 'No space left on device'"; nil when no entry names one. Failures
  /// to open a file (no such folder, no permission) are not counted: no file is open to cut off.
  static func cause(in stack: [String]) -> String? {
    for entry in stack where !entry.contains("_open") {
      guard let errnoRange = entry.range(of: "errno = ") else { continue }
      let number = entry[errnoRange.upperBound...].prefix { $0.isNumber }
      guard !number.isEmpty else { continue }
      var text = "system error"
      if let messageRange = entry.range(of: "error message = '"),
         let end = entry[messageRange.upperBound...].firstIndex(of: "'") {
        text = String(entry[messageRange.upperBound ..< end])
      }
      return "\(text) (errno \(number))"
    }
    return nil
  }
}

/// Every open `H5File`, so that a failure found in HDF5's error stack (`H5Context.error`) reaches
/// the files of its path, and so that the files still healthy at exit are closed. Two `H5File`s of
/// one path share HDF5's file state, so both are cut off. Touched only with the library lock held.
enum H5OpenFiles {
  private final class Entry {
    weak var file: H5File?
    init(_ file: H5File) { self.file = file }
  }
  nonisolated(unsafe) private static var entries: [ObjectIdentifier: (path: String, entry: Entry)] = [:]
  /// Device and inode of every file cut off in this process.
  nonisolated(unsafe) private static var cutOffFiles: [(device: UInt64, inode: UInt64, cause: String)] = []

  static func register(_ file: H5File) {
    entries[ObjectIdentifier(file)] = (file.path, Entry(file))
  }

  static func unregister(_ file: H5File) {
    entries[ObjectIdentifier(file)] = nil
  }

  /// Cuts off every open writable file at `path` after a system-level failure.
  static func failed(path: String, cause: String) {
    for (_, (filePath, entry)) in entries where filePath == path {
      if let file = entry.file, file.isWritable { file.cutOff(after: cause) }
    }
  }

  static func recordCutOff(device: UInt64, inode: UInt64, cause: String) {
    cutOffFiles.append((device, inode, cause))
  }

  /// Why the file at `path` cannot be opened again in this process, or nil if it can.
  static func cutOffCause(path: String) -> String? {
    guard !cutOffFiles.isEmpty else { return nil }
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return cutOffFiles.first { $0.device == UInt64(info.st_dev) && $0.inode == UInt64(info.st_ino) }?.cause
  }

  /// Closes (flushing) every file still open and healthy; run at exit instead of HDF5's own
  /// clean-up, which would also close the files that were cut off.
  static func closeHealthyFiles() {
    for (_, (_, entry)) in entries { try? entry.file?.close() }
  }
}

/// Redirecting a file's descriptor so that nothing more reaches the disk.
enum H5Severing {
  /// Records the file's identity, then points its descriptor (sec2 driver, the only one this module
  /// uses) at a new anonymous memory file. Without memfd (not Linux) the descriptor is left as is.
  static func redirectToMemory(_ fileID: hid_t, cause: String) {
    var raw: UnsafeMutableRawPointer?
    guard H5Fget_vfd_handle(fileID, pgm_h5p_default(), &raw) >= 0, let raw else { return }
    let descriptor = raw.assumingMemoryBound(to: Int32.self).pointee
    var info = stat()
    if fstat(descriptor, &info) == 0 {
      H5OpenFiles.recordCutOff(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), cause: cause)
    }
    let memory = pgm_memfd()
    guard memory >= 0 else { return }
    _ = dup2(memory, descriptor)
    close(memory)
  }
}
