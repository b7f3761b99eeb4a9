using Akka.Actor;
using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Stripes;
using Raid5Actors.Tests.Model;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Faults;

/// <summary>
/// I4 under a seeded workload: a member is lost half way (failed by the operator, its disk killed
/// between two waves, or its disk dying while a wave is in flight) and the array goes on. Every read,
/// before and after the loss, equals the byte-array model; the status says degraded and names the
/// role; the whole device reads back as the model; and after a clean stop the surviving members
/// alone hold the model (the lost member's chunks are the XOR of theirs).
/// </summary>
public sealed class DegradedModelSpec(ITestOutputHelper output)
{
    private const int kOperationsBefore = 500;
    private const int kOperationsAfter = 1000;

    /// <summary>Every role of each member count fails at least once, each way at least once per layout family.</summary>
    public static TheoryData<Raid5Layout, int, int, int, FailureKind> Cases() => new()
    {
        { Raid5Layout.LeftAsymmetric, 4, 4096, 0, FailureKind.Operator },
        { Raid5Layout.LeftAsymmetric, 4, 65536, 3, FailureKind.DiesMidWave },
        { Raid5Layout.RightAsymmetric, 4, 4096, 1, FailureKind.Killed },
        { Raid5Layout.RightAsymmetric, 4, 65536, 2, FailureKind.Operator },
        { Raid5Layout.RightAsymmetric, 3, 65536, 2, FailureKind.DiesMidWave },
        { Raid5Layout.LeftSymmetric, 4, 4096, 2, FailureKind.DiesMidWave },
        { Raid5Layout.LeftSymmetric, 4, 65536, 1, FailureKind.Killed },
        { Raid5Layout.LeftSymmetric, 3, 4096, 0, FailureKind.Killed },
        { Raid5Layout.RightSymmetric, 4, 4096, 3, FailureKind.Operator },
        { Raid5Layout.RightSymmetric, 4, 65536, 0, FailureKind.DiesMidWave },
        // Parity-first and parity-last: losing the parity member, then a data member.
        { Raid5Layout.ParityFirst, 4, 4096, 0, FailureKind.Killed },
        { Raid5Layout.ParityFirst, 4, 65536, 2, FailureKind.Operator },
        { Raid5Layout.ParityLast, 4, 4096, 3, FailureKind.DiesMidWave },
        { Raid5Layout.ParityLast, 4, 65536, 1, FailureKind.Killed },
        { Raid5Layout.ParityLast, 3, 4096, 1, FailureKind.Operator },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Every_read_equals_the_model_after_a_member_is_lost_half_way(
        Raid5Layout layout, int members, int chunkBytes, int lostRole, FailureKind kind)
    {
        var seed = TestArrays.Seed(output, $"{layout} n={members} chunk={chunkBytes} lose role {lostRole} ({kind})");
        var folder = TestArrays.NewFolder("degraded-model");
        try
        {
            // The operator's failure needs no fault injection: those cases run on plain memory members.
            IMemberStoreProvider provider = kind == FailureKind.Operator ? new MemoryMemberStoreProvider() : new SimulatedMemberStoreProvider();
            var dataBytes = chunkBytes == 4096 ? 256L * chunkBytes : 24L * chunkBytes;
            var options = new Raid5ArrayOptions { Members = provider, Config = TestArrays.Config() };
            var create = new Raid5CreateOptions(members, MemberSuperblock.kDefaultDataOffsetBytes + dataBytes, chunkBytes, layout);
            ModelWorkload workload;
            ArrayMetadata metadata;
            await using (var array = await Raid5Array.CreateAsync(folder, create, options))
            {
                workload = new ModelWorkload(array, seed, output);
                await workload.RunAsync(kOperationsBefore);
                Assert.Equal("active", (await array.GetStatusAsync()).State);

                await MemberFaults.FailAsync(array, provider, lostRole, kind, new Random(seed));
                await workload.RunAsync(kOperationsAfter);

                // The failure was met by the workload's own requests (or marked by the operator): no flush needed to notice it.
                var status = await array.GetStatusAsync();
                output.WriteLine(status.ToString());
                MemberFaults.AssertDegraded(status, lostRole);
                MemberFaults.Bury(provider, lostRole, kind);

                await workload.VerifyAllAsync();
                metadata = array.Metadata;
            }

            var survivors = MemberFaults.AssembleWithout(provider, metadata, lostRole);
            var difference = MemberFaults.FirstDifference(workload.Model, survivors);
            Assert.True(difference < 0, $"seed {seed}: the surviving members do not hold the model: first difference at logical byte {difference}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// The way back from a failure: the member is removed and re-added, and a WaitForSync sent after the
    /// AddMember returns only once the bitmap-driven recovery has finished: the array is whole again,
    /// reads equal the model, and every row's parity is consistent on the members.
    /// </summary>
    [Fact]
    public async Task A_wait_for_sync_sent_after_a_re_add_returns_with_the_member_back_in_sync()
    {
        const int kLostRole = 2;
        var seed = TestArrays.Seed(output, "re-add after a failure");
        var folder = TestArrays.NewFolder("re-add");
        try
        {
            var provider = new MemoryMemberStoreProvider();
            // A short request timeout bounds a stop that hangs behind a recovery (see DirtyDegradedOpenSpec).
            var config = ConfigurationFactory.ParseString("raid5.request-timeout = 5s").WithFallback(TestArrays.Config());
            var options = new Raid5ArrayOptions { Members = provider, Config = config };
            var create = new Raid5CreateOptions(4, MemberSuperblock.kDefaultDataOffsetBytes + 64L * 4096, 4096, Raid5Layout.LeftSymmetric);
            ModelWorkload workload;
            ArrayMetadata metadata;
            await using (var array = await Raid5Array.CreateAsync(folder, create, options))
            {
                metadata = array.Metadata;
                workload = new ModelWorkload(array, seed, output);
                await workload.RunAsync(200);
                await array.FailMemberAsync(kLostRole);
                await workload.RunAsync(200);
                await array.RemoveMemberAsync(kLostRole);

                // Sent back to back from one thread: the array handles the WaitForSync after the AddMember.
                var device = ArrayAssembly.OpenForAdd(provider, kLostRole, metadata.DataOffsetBytes + metadata.MemberDataBytes);
                var timeout = TimeSpan.FromSeconds(30);
                var adding = array.Actor.Ask<object>(new ArrayProtocol.AddMember(device), timeout);
                var waiting = array.Actor.Ask<ArrayProtocol.SyncIdle>(ArrayProtocol.WaitForSync.Instance, timeout);
                var added = Assert.IsType<ArrayProtocol.MembersChanged>(await adding);
                output.WriteLine(added.Outcome);
                Assert.Contains("re-added", added.Outcome);
                var idle = await waiting;

                var status = await array.GetStatusAsync();
                output.WriteLine($"WaitForSync answered {idle}; status then: {status}");
                Assert.True(idle.Last is { Kind: SyncKind.Recover, TargetRole: kLostRole } && idle.LastFailure is null, $"WaitForSync answered {idle} before the re-add's recovery ran");
                Assert.Equal("active", status.State);
                Assert.All(status.Members, m => Assert.Equal("in-sync", m.State));
                await workload.VerifyAllAsync();
            }

            var areas = MemberImage.ReadDataAreas(provider, metadata);
            Assert.Empty(MemberImage.InconsistentRows(metadata.Geometry, areas));
            Assert.True(MemberImage.Assemble(metadata.Geometry, areas).AsSpan().SequenceEqual(workload.Model), $"seed {seed}: the members do not hold the model after the re-add");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
