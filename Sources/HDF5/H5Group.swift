// Groups: the folders of an HDF5 file, and the operations shared by files and groups.
import CHDF5

/// Something that holds named children: the file (root group "/") or a group.
///
/// Paths given to its methods are relative to it ("train/tokens") or absolute ("/train/tokens").
public protocol H5Container: AnyObject, Sendable {
  /// The file this container belongs to.
  var file: H5File { get }
  /// The container's absolute HDF5 path ("/" for the file).
  var name: String { get }
}

/// A group in an HDF5 file. Cheap to hold: it keeps no HDF5 identifier open, only its path.
public final class H5Group: H5Container, @unchecked Sendable {
  public let file: H5File
  public let name: String

  init(file: H5File, name: String) {
    self.file = file
    self.name = name
  }
}

/// What a child of a group is.
public enum H5ObjectKind: String, Sendable {
  case group, dataset, other
}

/// One entry of `H5Container.children()`.
public struct H5Child: Equatable, Sendable {
  /// The link name inside its group (not a path).
  public let name: String
  public let kind: H5ObjectKind
}

extension H5Container {
  /// Attributes of this file or group.
  public var attributes: H5Attributes { H5Attributes(file: file, objectPath: name) }

  /// Creates a group, and any missing intermediate groups of `path` (like `mkdir -p`, except that
  /// the last component must not exist yet: throws `.alreadyExists`).
  @discardableResult
  public func createGroup(_ path: String) throws -> H5Group {
    let full = try resolve(path, operation: "create group")
    return try H5Library.serialized {
      let context = H5Context(operation: "create group", path: file.path, object: full)
      try file.requireWritable(context)
      let fileID = try file.openID(context)
      if try H5Paths.exists(full, in: fileID) {
        throw context.error("an object with this name already exists", kind: .alreadyExists)
      }
      let lcpl = try H5Paths.intermediateGroupsProperties(context)
      // No modification times in object headers: the same data gives the same file bytes.
      let gcpl = H5Temporary(try context.checkID(H5Pcreate(pgm_h5p_group_create()), "cannot create group properties"),
                             H5Pclose)
      try context.check(H5Pset_obj_track_times(gcpl.id, false), "cannot turn off time tracking")
      let id = try context.checkID(H5Gcreate2(fileID, full, lcpl.id, gcpl.id,
                                              pgm_h5p_default()), "cannot create the group")
      H5Gclose(id)
      return H5Group(file: file, name: full)
    }
  }

  /// Opens an existing group; throws `.notFound` if it does not exist or is not a group.
  public func openGroup(_ path: String) throws -> H5Group {
    let full = try resolve(path, operation: "open group")
    return try H5Library.serialized {
      let context = H5Context(operation: "open group", path: file.path, object: full)
      let fileID = try file.openID(context)
      guard try H5Paths.kind(of: full, in: fileID) == .group else {
        throw context.error("no group with this name", kind: .notFound)
      }
      return H5Group(file: file, name: full)
    }
  }

  /// Opens the group if it exists, creates it (with intermediate groups) otherwise.
  public func requireGroup(_ path: String) throws -> H5Group {
    try H5Library.serialized {  // atomic: another thread cannot create it in between
      if try contains(path) { return try openGroup(path) }
      do { return try createGroup(path) } catch let error as H5Error where error.kind == .alreadyExists {
        // The link is there but its object cannot be read: a writer was killed while it created it.
        throw H5Error(kind: .unreadableFile, operation: "open group", path: file.path, object: path,
                      message: "the group is listed but cannot be read (a writer was killed while creating it); "
                        + "remove the file and write it again", stack: error.stack)
      }
    }
  }

  /// Whether a group, dataset or other object exists at `path`.
  public func contains(_ path: String) throws -> Bool {
    try kind(of: path) != nil
  }

  /// What is at `path`, or nil if nothing is.
  public func kind(of path: String) throws -> H5ObjectKind? {
    let full = try resolve(path, operation: "look up")
    return try H5Library.serialized {
      let context = H5Context(operation: "look up", path: file.path, object: full)
      return try H5Paths.kind(of: full, in: try file.openID(context))
    }
  }

  /// The direct children of this container, sorted by name.
  public func children() throws -> [H5Child] {
    try H5Library.serialized {
      let context = H5Context(operation: "list group", path: file.path, object: name)
      let fileID = try file.openID(context)
      let names = H5NameCollector()
      let visit: H5L_iterate_t = { _, linkName, _, context in
        guard let linkName, let context else { return 0 }
        Unmanaged<H5NameCollector>.fromOpaque(context).takeUnretainedValue().list.append(
          String(cString: linkName))
        return 0
      }
      let group = H5Temporary(try context.checkID(H5Gopen2(fileID, name, pgm_h5p_default()),
                                                  "cannot open the group", kind: .notFound),
                              H5Gclose)
      var index: hsize_t = 0
      try withExtendedLifetime(names) { () throws -> Void in
        try context.check(H5Literate(group.id, H5_INDEX_NAME, H5_ITER_INC, &index, visit,
                                     Unmanaged.passUnretained(names).toOpaque()),
                          "cannot list the group")
      }
      return try names.list.sorted().map { child in
        let kind = try H5Paths.kind(of: H5Paths.join(name, child), in: fileID) ?? .other
        return H5Child(name: child, kind: kind)
      }
    }
  }

  /// Deletes the link to a group or dataset. (HDF5 does not reclaim the space in the file.)
  public func remove(_ path: String) throws {
    let full = try resolve(path, operation: "remove")
    try H5Library.serialized {
      let context = H5Context(operation: "remove", path: file.path, object: full)
      try file.requireWritable(context)
      let fileID = try file.openID(context)
      guard try H5Paths.exists(full, in: fileID) else {
        throw context.error("no object with this name", kind: .notFound)
      }
      try context.check(H5Ldelete(fileID, full, pgm_h5p_default()), "cannot delete the link")
    }
  }

  /// The absolute path of `path` relative to this container, validated.
  func resolve(_ path: String, operation: String) throws -> String {
    let full = path.hasPrefix("/") ? path : H5Paths.join(name, path)
    let parts = full.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
    if full == "/" || parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
      throw H5Error(kind: .invalidArgument, operation: operation, path: file.path, object: path,
                    message: "not a valid object path (empty, '.' or '..' component)", stack: [])
    }
    return full
  }
}

/// Helpers on absolute HDF5 paths. Call with the library lock held.
enum H5Paths {
  static func join(_ parent: String, _ child: String) -> String {
    parent.hasSuffix("/") ? parent + child : parent + "/" + child
  }

  /// Whether every component of the absolute `path` exists (`H5Lexists` fails, rather than
  /// answering false, when an intermediate component is missing, so each is checked in turn).
  static func exists(_ path: String, in fileID: hid_t) throws -> Bool {
    var prefix = ""
    for component in path.split(separator: "/") {
      prefix += "/" + component
      let status = H5Lexists(fileID, prefix, pgm_h5p_default())
      if status <= 0 { return false }
    }
    return true
  }

  /// The kind of object at the absolute `path`, nil if there is none.
  static func kind(of path: String, in fileID: hid_t) throws -> H5ObjectKind? {
    if path == "/" { return .group }
    guard try exists(path, in: fileID) else { return nil }
    var info = H5O_info_t()
    guard H5Oget_info_by_name2(fileID, path, &info, UInt32(H5O_INFO_BASIC), pgm_h5p_default()) >= 0
    else { return nil }  // e.g. a dangling soft link
    switch info.type {
    case H5O_TYPE_GROUP: return .group
    case H5O_TYPE_DATASET: return .dataset
    default: return .other
    }
  }

  /// Link creation properties that create missing intermediate groups.
  static func intermediateGroupsProperties(_ context: H5Context) throws -> H5Temporary {
    let lcpl = H5Temporary(try context.checkID(H5Pcreate(pgm_h5p_link_create()),
                                               "cannot create link properties"), H5Pclose)
    try context.check(H5Pset_create_intermediate_group(lcpl.id, 1),
                      "cannot set intermediate group creation")
    return lcpl
  }
}

/// Collects link names from the `H5Literate` callback (a C callback cannot capture context).
private final class H5NameCollector { var list: [String] = [] }
