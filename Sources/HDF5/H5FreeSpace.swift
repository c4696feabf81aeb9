// How many more bytes a file may grow by, asked of the system before a commit flushes.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum H5FreeSpace {
  /// The room left for the file at `path`, and what limits it: the free space of its file system
  /// for an unprivileged writer, or this process's file size limit (RLIMIT_FSIZE) less the file's
  /// size, whichever is smaller. Nil if neither can be read.
  static func room(forFileAt path: String) -> (bytes: Int, limitedBy: String)? {
    var room: (bytes: Int, limitedBy: String)?
    var fileSystem = statvfs()
    if statvfs(path, &fileSystem) == 0 {
      let free = Int(clamping: UInt64(fileSystem.f_bavail) &* UInt64(fileSystem.f_frsize))
      room = (free, "the file system has \(free) bytes free")
    }
    var limit = rlimit()
    var info = stat()
    #if os(Linux)
    let resource = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
    #else
    let resource = RLIMIT_FSIZE
    #endif
    if getrlimit(resource, &limit) == 0, limit.rlim_cur < rlim_t(Int.max), stat(path, &info) == 0 {
      let left = max(0, Int(clamping: UInt64(limit.rlim_cur)) - Int(info.st_size))
      if left < room?.bytes ?? .max { room = (left, "the file size limit (ulimit -f) allows \(left) more bytes") }
    }
    return room
  }
}
