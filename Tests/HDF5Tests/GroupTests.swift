// Nested groups, listing, existence checks and removal.
import Testing
@testable import HDF5

@Suite struct GroupTests {
  @Test func nestedGroupsListAndExist() throws {
    let directory = try TestDirectory()
    let path = directory.path("groups.h5")
    do {
      let file = try H5File.create(path)
      let tokens = try file.createGroup("train/tokens")
      #expect(tokens.name == "/train/tokens")
      try tokens.createDataset("ids", of: UInt16.self, shape: [3])
      try file.createDataset("valid/ids", of: UInt16.self, shape: [2])  // creates the group
      let train = try file.openGroup("train")
      try train.createGroup("meta")
      #expect(try train.requireGroup("meta").name == "/train/meta")
      #expect(try file.requireGroup("test/a").name == "/test/a")
      #expect((#expect(throws: H5Error.self) { try file.createGroup("train") })?.kind == .alreadyExists)
    }
    let file = try H5File.open(path)
    #expect(try file.children() == [H5Child(name: "test", kind: .group),
                                    H5Child(name: "train", kind: .group),
                                    H5Child(name: "valid", kind: .group)])
    let train = try file.openGroup("/train")
    #expect(try train.children().map(\.name) == ["meta", "tokens"])
    #expect(try train.openGroup("tokens").children() == [H5Child(name: "ids", kind: .dataset)])
    #expect(try file.contains("train/tokens/ids"))
    #expect(try train.contains("tokens/ids"))
    #expect(try !file.contains("train/tokens/missing"))
    #expect(try !file.contains("no/such/deep/path"))  // missing intermediates: false, not an error
    #expect(try file.kind(of: "valid/ids") == .dataset)
    #expect(try file.kind(of: "valid") == .group)
    #expect(try file.kind(of: "nothing") == nil)
    #expect((#expect(throws: H5Error.self) { try file.openGroup("train/tokens/ids") })?.kind == .notFound)
    #expect((#expect(throws: H5Error.self) { try file.openGroup("nope") })?.kind == .notFound)
    #expect((#expect(throws: H5Error.self) { try file.contains("a//b") })?.kind == .invalidArgument)
    #expect((#expect(throws: H5Error.self) { try file.createGroup("x") })?.kind == .notWritable)
    let info = try file.datasetInfo("train/tokens/ids")
    #expect(info == H5DatasetInfo(elementType: .uint16, typeName: "uint16", shape: [3],
                                  chunkShape: nil, isExtendible: false))
  }

  @Test func removeDeletesLinks() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("remove.h5"))
    try file.createDataset("a/b", of: Float.self, shape: [1])
    try file.remove("a/b")
    #expect(try !file.contains("a/b"))
    #expect(try file.contains("a"))
    #expect((#expect(throws: H5Error.self) { try file.remove("a/b") })?.kind == .notFound)
    try file.createDataset("a/b", of: Int64.self, shape: [2])  // the name can be reused
    #expect(try file.openDataset("a/b", of: Int64.self).shape == [2])
  }
}
