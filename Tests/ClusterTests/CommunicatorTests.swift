import Cluster
import Foundation
import Testing
import TestSupport

private let abortChildVariable = "PGM_TEST_CLUSTER_ABORT_CHILD"

/// A plain process is rank 0 of 1: every collective returns its input and no MPI call is made.
@Suite struct SingleProcessTests {
  @Test func launchIsDetectedFromTheEnvironment() {
    #expect(!Communicator.launchedByMPIRun([:]))
    #expect(!Communicator.launchedByMPIRun(["PATH": "/usr/bin", "OMPI_MCA_foo": "1"]))
    #expect(Communicator.launchedByMPIRun(["OMPI_COMM_WORLD_SIZE": "2"]))
    #expect(Communicator.launchedByMPIRun(["PMIX_RANK": "0"]))
  }

  @Test func plainProcessIsRankZeroOfOne() {
    let world = Communicator.start()
    #expect(world.rank == 0 && world.size == 1 && world.isRoot && !world.usesMPI)
    #expect(Communicator.world.size == 1 && world.label.isEmpty)
  }

  @Test func collectivesAreTheIdentity() throws {
    let world = Communicator.world
    var rng = SeededGenerator(seed: 5)
    let original = rng.floats(1000)
    var floats = original
    world.allreduceSum(&floats)
    #expect(floats == original)
    var doubles = original.map(Double.init)
    world.allreduceSum(&doubles)
    #expect(doubles == original.map(Double.init))
    #expect(world.allreduceSum(2.5) == 2.5)

    let bucket = UnsafeMutableBufferPointer<Float>.allocate(capacity: original.count)
    defer { bucket.deallocate() }
    _ = bucket.initialize(from: original)
    world.allreduceSum(bucket)
    let pending = world.startAllreduceSum(bucket)
    #expect(pending.test())
    pending.wait()
    pending.wait()
    #expect(Array(bucket) == original)

    var broadcastFloats = original
    world.broadcast(&broadcastFloats)
    #expect(broadcastFloats == original)
    #expect(try world.broadcast(bytes: { [1, 2, 3] }) == [1, 2, 3])
    #expect(try world.broadcast { ["a": 1.5] } == ["a": 1.5])
    world.barrier()
    #expect(world.allgather(7) == [7])
    #expect(world.allgather(-0.5) == [-0.5])
    #expect(world.allgather(bytes: [9]) == [[9]])
    #expect(try world.allgather("x") == ["x"])
  }

  /// Rank 0's own error comes back unchanged.
  @Test func broadcastRethrowsTheRootsError() {
    struct Bad: Error {}
    #expect(throws: Bad.self) { try Communicator.world.broadcast(bytes: { throw Bad() }) }
  }

  @Test func clusterCheckPassesOnOneRank() throws {
    let report = try ClusterCheck.run(.world, benchCount: 1000, benchRepeats: 2)
    #expect(report.ok && report.failures.isEmpty && report.results.count >= 14)
    #expect(report.rank == 0 && report.size == 1 && !report.mpi && report.bench?.count == 1000)
    #expect(throws: ClusterCheck.DeliberateFailure.self) { try ClusterCheck.run(.world, failOnRank: 0) }
  }

  /// The child's body: abort with a known message and code.
  @Test func abortChild() {
    guard ProcessInfo.processInfo.environment[abortChildVariable] != nil else { return }
    print("buffered output before the abort", terminator: "")
    Communicator.world.abort(message: "cluster test: deliberate abort", code: 3)
  }

  @Test func abortPrintsOnceAndExitsWithItsCode() throws {
    if ProcessInfo.processInfo.environment[abortChildVariable] != nil { return }
    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var environment = ProcessInfo.processInfo.environment
    environment[abortChildVariable] = "1"
    let result = try runChild(executable, ["--testing-library", "swift-testing", "--filter", "abortChild"],
                              environment: environment, timeout: 120)
    #expect(result.status == 3)
    #expect(result.stderr.components(separatedBy: "cluster test: deliberate abort").count == 2)
    #expect(result.stdout.contains("buffered output before the abort"))
  }
}
