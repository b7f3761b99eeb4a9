using Akka.Actor;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Stripes;
using Raid5Actors.Tests.Arrays;
using Raid5Actors.Tests.Model;
using Xunit.Abstractions;
using static Raid5Actors.Arrays.ArrayProtocol;

namespace Raid5Actors.Tests.Rebuild;

/// <summary>
/// A member that failed and comes back is re-added from the write-intent bitmap (md's --re-add):
/// only the rows under the bits set by writes it missed are rebuilt, byte for byte, and nothing
/// else on it is touched. A member that comes back after the array was made whole without it is
/// stale (its event count predates the last time the array became whole): it becomes a spare and
/// is rebuilt in full when it is used, never from the bitmap.
/// </summary>
public sealed class ReAddSpec(ITestOutputHelper output) : IDisposable
{
    private const int kChunkBytes = 4096;
    private const long kBitmapChunkBytes = 64 << 10;
    private const long kRowsPerBit = kBitmapChunkBytes / kChunkBytes;
    private const int kFillPieceBytes = 256 << 10;
    private static readonly TimeSpan kSyncTimeout = TimeSpan.FromSeconds(30);

    private readonly TemporaryFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Fast syncs: these specs look at which rows are rebuilt, not at pacing.</summary>
    private static Akka.Configuration.Config FastSyncConfig() =>
        RebuildUnderLoadSpec.SlowSyncConfig(speedMinBytes: 64 << 20, speedMaxBytes: 256 << 20, checkpointInterval: "2s");

    private static Raid5CreateOptions Create(int members, long rows, Raid5Layout layout, int spares = 0) =>
        new(members, MemberSuperblock.kDefaultDataOffsetBytes + rows * kChunkBytes, kChunkBytes, layout, kBitmapChunkBytes, spares);

    private static async Task Fill(Raid5Array raid, ExpectedDevice expected)
    {
        for (long offset = 0; offset < expected.CapacityBytes; offset += kFillPieceBytes)
            await expected.WriteAsync(raid, offset, (int)Math.Min(kFillPieceBytes, expected.CapacityBytes - offset));
    }

    [Fact]
    public async Task A_re_added_member_rebuilds_exactly_the_rows_under_the_bits_its_missed_writes_set()
    {
        const int members = 4;
        const long rows = 256; // 16 bitmap chunks of 16 rows
        var seed = TestArrays.Seed(output, "re-add");
        var expected = new ExpectedDevice((members - 1) * rows * kChunkBytes, seed);
        var failedRole = expected.Random.Next(members);
        // Memory members: the spec marks the removed member's raw bytes to see which rows the re-add rewrites.
        var array = new ArrayUnderTest(_temp.PathOf("array"), MemberKind.Memory, FastSyncConfig());
        var raid = await array.CreateAsync(Create(members, rows, Raid5Layout.LeftSymmetric));
        var geometry = raid.Geometry;
        var metadata = raid.Metadata;
        var offset = checked((int)metadata.DataOffsetBytes);
        HashSet<long> markedOutside;
        try
        {
            await Fill(raid, expected);
            Assert.Equal($"member {failedRole} marked faulty", (await raid.FailMemberAsync(failedRole)).Outcome);
            var atFailure = array.ReadMember(failedRole);

            // Three regions far apart, each in its own bitmap chunk: two whole rows twice, then one sector.
            var dirtyBits = new long[] { 1, 7, 13 };
            var wholeRows = new List<long>();
            foreach (var bit in dirtyBits.Take(2))
            {
                var row = bit * kRowsPerBit + expected.Random.Next((int)kRowsPerBit - 1);
                wholeRows.AddRange([row, row + 1]);
                await expected.WriteAsync(raid, row * geometry.RowDataBytes, 2 * (int)geometry.RowDataBytes);
            }
            var sectorRow = dirtyBits[2] * kRowsPerBit + expected.Random.Next((int)kRowsPerBit);
            var sectorOffset = sectorRow * geometry.RowDataBytes + expected.Random.Next((int)(geometry.RowDataBytes / 512)) * 512L;
            await expected.WriteAsync(raid, sectorOffset, 512);
            output.WriteLine($"failed role {failedRole}; whole rows {string.Join(",", wholeRows)}; one sector at {sectorOffset} (row {sectorRow})");

            // A bit covers kRowsPerBit whole rows (member bytes [bit x 64 KiB, +64 KiB) on every member).
            var bitsWritten = wholeRows.Append(sectorRow).Select(row => row * kChunkBytes / kBitmapChunkBytes).Distinct().Order();
            Assert.Equal(dirtyBits, bitsWritten);
            var degraded = await raid.GetStatusAsync();
            output.WriteLine(degraded.ToString());
            Assert.Equal("degraded", degraded.State);
            Assert.Equal(dirtyBits.Length, degraded.Bitmap!.PendingResyncChunks);

            // Nothing reached the faulty member; it is stale exactly where a missed write changed its chunk.
            Assert.True(atFailure.AsSpan().SequenceEqual(array.ReadMember(failedRole)), "a write reached the faulty member");
            var away = RoleImages.Read(array.Members, metadata, Enumerable.Range(0, members).ToArray());
            var stale = RoleImages.RowsDiffering(geometry, away[failedRole], RoleImages.Reconstruct(away, failedRole)).ToHashSet();
            output.WriteLine($"stale rows on the faulty member: {string.Join(",", stale.Order())}");
            Assert.Superset(wholeRows.ToHashSet(), stale);
            Assert.Subset(wholeRows.Append(sectorRow).ToHashSet(), stale);

            // As with mdadm, the device comes back only once it is out of its role.
            var busy = await Assert.ThrowsAsync<Raid5Exception>(() => raid.AddMemberAsync(failedRole));
            Assert.Contains("already part of the array", busy.Message);
            Assert.Equal($"member {failedRole} removed", (await raid.RemoveMemberAsync(failedRole)).Outcome);
            // While it is out, mark every row of the dirty bits, and outside them the rows where it holds
            // parity (never read while the array is whole): a row the re-add rewrites loses its mark.
            var raw = array.ReadMember(failedRole);
            markedOutside = [];
            for (long row = 0; row < rows; row++)
            {
                var inDirtyBit = dirtyBits.Contains(row / kRowsPerBit);
                if (!inDirtyBit && geometry.ParityMember(row) != failedRole)
                    continue;
                raw.AsSpan(offset + (int)(row * kChunkBytes), kChunkBytes).Fill(0xA5);
                if (!inDirtyBit)
                    markedOutside.Add(row);
            }
            array.WriteMember(failedRole, raw);

            var readded = await raid.AddMemberAsync(failedRole);
            Assert.Equal($"member {failedRole} re-added: only the regions written while it was away are rebuilt", readded.Outcome);
            // Polled, not WaitForSyncAsync: see WaitForSync_sent_right_after_a_re_add_waits_until_the_re_added_member_is_rebuilt.
            var whole = await StatusPolling.Until(raid, s => s.Sync is null && s.LastSync is { Kind: SyncKind.Recover }, kSyncTimeout, "re-added");
            var dirtyRows = dirtyBits.Sum(bit => Math.Min(kRowsPerBit, rows - bit * kRowsPerBit));
            var last = whole.LastSync!;
            Assert.Null(whole.LastSyncFailure);
            Assert.Equal((SyncKind.Recover, failedRole, dirtyRows, dirtyRows), (last.Kind, last.TargetRole, last.DoneRows, last.TotalRows));
            output.WriteLine(whole.ToString());
            Assert.Equal("active", whole.State);
            Assert.Equal(Enumerable.Range(0, members).Select(r => (r, r, "in-sync")), whole.Members.Select(m => (m.Role, m.Device, m.State)));
            Assert.Equal(0, whole.Bitmap!.PendingResyncChunks);
            await expected.AssertReadsBackAsync(raid);
        }
        finally
        {
            await raid.DisposeAsync();
        }

        var after = RoleImages.Read(array.Members, metadata, Enumerable.Range(0, members).ToArray());
        // Rebuilt: every row of the dirty bits. Not touched: every row outside them, marks included.
        Assert.Equal(markedOutside.Order(), MemberImage.InconsistentRows(geometry, after));
        Assert.All(markedOutside, row => Assert.True(after[failedRole].AsSpan((int)(row * kChunkBytes), kChunkBytes).IndexOfAnyExcept((byte)0xA5) < 0, $"row {row} was rewritten"));
        Assert.Equal(markedOutside.Order(), RoleImages.RowsDiffering(geometry, after[failedRole], RoleImages.Reconstruct(after, failedRole)));
        Assert.True(MemberImage.Assemble(geometry, after).AsSpan().SequenceEqual(expected.Slice(0, (int)expected.CapacityBytes).Span), $"seed {seed}: members do not hold the expected device");
        var superblock = array.ReadSuperblock(failedRole);
        Assert.Equal((metadata.ArrayId, failedRole), (superblock.ArrayId, superblock.Role));
    }

    [Fact]
    public async Task WaitForSync_sent_right_after_a_re_add_waits_until_the_re_added_member_is_rebuilt()
    {
        const int members = 3;
        const long rows = 64;
        var seed = TestArrays.Seed(output, "wait after re-add");
        var expected = new ExpectedDevice((members - 1) * rows * kChunkBytes, seed);
        var role = expected.Random.Next(members);
        const int cameBackAs = members; // the same disk under a new index, as /dev/sdb coming back as /dev/sdd
        var array = new ArrayUnderTest(_temp.PathOf("array"), MemberKind.Memory, FastSyncConfig());
        await using var raid = await array.CreateAsync(Create(members, rows, Raid5Layout.LeftSymmetric));
        var metadata = raid.Metadata;
        await Fill(raid, expected);
        await raid.FailMemberAsync(role);
        await expected.WriteAsync(raid, expected.Random.NextInt64(rows) * raid.Geometry.RowDataBytes, (int)raid.Geometry.RowDataBytes);
        await raid.RemoveMemberAsync(role);
        array.AddBlank(cameBackAs, metadata.DataOffsetBytes + metadata.MemberDataBytes);
        array.WriteMember(cameBackAs, array.ReadMember(role));

        // Sent one after the other, as a client that pipelines its commands: WaitForSync is handled
        // after the re-add was accepted, when the member is already "rebuilding".
        var device = ArrayAssembly.OpenForAdd(array.Members, cameBackAs, metadata.DataOffsetBytes + metadata.MemberDataBytes);
        var adding = raid.Actor.Ask<object>(new AddMember(device), kSyncTimeout);
        var waiting = raid.Actor.Ask<SyncIdle>(WaitForSync.Instance, kSyncTimeout);
        var added = Assert.IsType<MembersChanged>(await adding);
        Assert.Equal($"member {role} re-added: only the regions written while it was away are rebuilt", added.Outcome);
        var idle = await waiting;
        var status = await raid.GetStatusAsync();
        output.WriteLine($"WaitForSync answered {idle}; then:\n{status}");
        // Let the rebuild end before judging, so the spec stops an idle array either way.
        await StatusPolling.Until(raid, s => s.State == "active", kSyncTimeout, "rebuilt");
        Assert.True(
            idle.Last is { Kind: SyncKind.Recover, DoneRows: kRowsPerBit, TotalRows: kRowsPerBit } last && last.TargetRole == role && status.State == "active",
            $"seed {seed}: WaitForSync answered ({idle}) before the re-added member {role} was rebuilt; the array is then {status.State}");
        await expected.AssertReadsBackAsync(raid);
    }

    [Fact]
    public async Task A_member_removed_while_its_disk_is_busy_leaves_the_array_serving_when_the_disk_answers_late()
    {
        const int members = 3;
        const long rows = 64;
        var seed = TestArrays.Seed(output, "late answer of a removed member's disk");
        var expected = new ExpectedDevice((members - 1) * rows * kChunkBytes, seed);
        var role = expected.Random.Next(members);
        var gate = new GatedMemberStoreProvider(new MemoryMemberStoreProvider());
        var options = new Raid5ArrayOptions { Members = gate, Config = FastSyncConfig().WithFallback(ArrayUnderTest.kQuietBitmapDaemon) };
        await using var raid = await Raid5Array.CreateAsync(_temp.PathOf("array"), Create(members, rows, Raid5Layout.LeftSymmetric), options);
        await Fill(raid, expected);

        var held = gate.HoldAsync(role, GatedOperation.Flush);
        var flushing = raid.FlushAsync();
        await held;
        await raid.FailMemberAsync(role);
        await raid.RemoveMemberAsync(role);
        await flushing; // the removed member's share of the flush is failed, not waited for
        await gate.Release(); // its disk finishes the flush now and answers the array late

        for (var i = 0; i < 4; i++)
            await expected.WriteAsync(raid, expected.Random.NextInt64(rows) * raid.Geometry.RowDataBytes, (int)raid.Geometry.RowDataBytes);
        await expected.AssertReadsBackAsync(raid);
        var status = await raid.GetStatusAsync();
        Assert.Equal("degraded", status.State);
        Assert.Equal((-1, "removed"), status.Members.Where(m => m.Role == role).Select(m => (m.Device, m.State)).Single());
    }

    [Fact]
    public async Task A_device_removed_while_its_disk_is_busy_is_re_added_at_once()
    {
        const int members = 3;
        const long rows = 64;
        var seed = TestArrays.Seed(output, "re-add while the old disk actor stops");
        var expected = new ExpectedDevice((members - 1) * rows * kChunkBytes, seed);
        var role = expected.Random.Next(members);
        var gate = new GatedMemberStoreProvider(new MemoryMemberStoreProvider());
        var options = new Raid5ArrayOptions { Members = gate, Config = FastSyncConfig().WithFallback(ArrayUnderTest.kQuietBitmapDaemon) };
        var create = Create(members, rows, Raid5Layout.LeftSymmetric);
        ArrayMetadata metadata;
        ArrayStatus final;
        await using (var raid = await Raid5Array.CreateAsync(_temp.PathOf("array"), create, options))
        {
            metadata = raid.Metadata;
            await Fill(raid, expected);

            // The member's disk actor is stuck in a flush, so it cannot stop the moment it is removed.
            var held = gate.HoldAsync(role, GatedOperation.Flush);
            var flushing = raid.FlushAsync();
            await held;
            try
            {
                await raid.FailMemberAsync(role);
                await expected.WriteAsync(raid, expected.Random.NextInt64(rows) * raid.Geometry.RowDataBytes, (int)raid.Geometry.RowDataBytes);
                Assert.Equal($"member {role} removed", (await raid.RemoveMemberAsync(role)).Outcome);
                var added = await raid.AddMemberAsync(role);
                Assert.Equal($"member {role} re-added: only the regions written while it was away are rebuilt", added.Outcome);
            }
            finally
            {
                await gate.Release();
            }
            await flushing;

            final = await StatusPolling.Until(raid, s => s.State == "active" && s.LastSync is { Kind: SyncKind.Recover }, kSyncTimeout, "re-added");
            output.WriteLine(final.ToString());
            Assert.Equal((role, kRowsPerBit), (final.LastSync!.TargetRole, final.LastSync.TotalRows));
            Assert.Equal(Enumerable.Range(0, members).Select(r => (r, r, "in-sync")), final.Members.Select(m => (m.Role, m.Device, m.State)));
            await expected.AssertReadsBackAsync(raid);
        }

        var areas = RoleImages.Read(gate, metadata, RoleImages.DevicesByRole(final));
        Assert.Empty(MemberImage.InconsistentRows(metadata.Geometry, areas));
    }

    [Fact]
    public async Task A_member_that_returns_after_the_array_was_made_whole_without_it_becomes_a_spare_and_is_rebuilt_in_full()
    {
        const int members = 3;
        const long rows = 64;
        var seed = TestArrays.Seed(output, "stale re-add");
        var expected = new ExpectedDevice((members - 1) * rows * kChunkBytes, seed);
        var leftRole = expected.Random.Next(members);
        var laterRole = (leftRole + 1 + expected.Random.Next(members - 1)) % members;
        const int hotSpare = members;
        output.WriteLine($"role {leftRole} leaves and is replaced by the hot spare; its device comes back; then role {laterRole} fails");
        var array = new ArrayUnderTest(_temp.PathOf("array"), MemberKind.Files, FastSyncConfig());
        var raid = await array.CreateAsync(Create(members, rows, Raid5Layout.RightSymmetric, spares: 1));
        var metadata = raid.Metadata;
        var geometry = raid.Geometry;
        ArrayStatus final;
        try
        {
            await Fill(raid, expected);
            await raid.FailMemberAsync(leftRole);
            var whole = await StatusPolling.Until(raid, s => s.State == "active" && s.LastSync is { Kind: SyncKind.Recover }, kSyncTimeout, "whole again on the hot spare");
            Assert.Equal(hotSpare, whole.Members.Single(m => m.Role == leftRole).Device);
            await expected.WriteAsync(raid, expected.Random.NextInt64(rows) * geometry.RowDataBytes, (int)geometry.RowDataBytes);

            var current = await raid.Actor.Ask<ArrayMetadata>(GetMetadata.Instance, kSyncTimeout);
            var returning = array.ReadSuperblock(leftRole);
            output.WriteLine($"returning device: role {returning.Role}, events {returning.Events}; array events {current.Events}, cleared at {current.EventsCleared}");
            Assert.Equal(leftRole, returning.Role);
            Assert.True(returning.Events < current.EventsCleared, "the returning device is not older than the array's last whole state");

            var added = await raid.AddMemberAsync(leftRole);
            Assert.Equal($"{array.Members.Describe(leftRole)} added as a spare", added.Outcome);
            Assert.Equal([leftRole], added.Metadata.Spares);
            var idle = await raid.WaitForSyncAsync(kSyncTimeout);
            Assert.Equal(whole.LastSync, idle.Last); // no pass ran for it
            var withSpare = await raid.GetStatusAsync();
            Assert.Equal("active", withSpare.State);
            Assert.Contains(new MemberStatus(-1, leftRole, array.Members.Describe(leftRole), "spare"), withSpare.Members);
            Assert.Equal(0, withSpare.Bitmap!.PendingResyncChunks);

            // Used as a spare, it is rebuilt from the first row to the last: nothing on it is trusted.
            await raid.FailMemberAsync(laterRole);
            var rebuilding = await StatusPolling.Until(raid, s => s.Sync is not null || s.LastSync?.TargetRole == laterRole, kSyncTimeout, "recovering onto the returned device");
            var pass = rebuilding.Sync ?? rebuilding.LastSync!;
            Assert.Equal((SyncKind.Recover, laterRole, rows), (pass.Kind, pass.TargetRole, pass.TotalRows));
            final = await StatusPolling.Until(raid, s => s.State == "active" && s.LastSync?.TargetRole == laterRole, kSyncTimeout, "whole again on the returned device");
            Assert.Equal((SyncKind.Recover, rows, rows), (final.LastSync!.Kind, final.LastSync.DoneRows, final.LastSync.TotalRows));
            Assert.Equal(leftRole, final.Members.Single(m => m.Role == laterRole).Device);
            Assert.All(final.Members, m => Assert.Equal("in-sync", m.State));
            await expected.AssertReadsBackAsync(raid);
        }
        finally
        {
            await raid.DisposeAsync();
        }

        var areas = RoleImages.Read(array.Members, metadata, RoleImages.DevicesByRole(final));
        Assert.Empty(MemberImage.InconsistentRows(geometry, areas));
        RoleImages.AssertHoldsReconstruction(areas, laterRole, $"seed {seed}: the returned device");
        Assert.True(MemberImage.Assemble(geometry, areas).AsSpan().SequenceEqual(expected.Slice(0, (int)expected.CapacityBytes).Span), $"seed {seed}: members do not hold the expected device");
        Assert.Equal(laterRole, array.ReadSuperblock(leftRole).Role);
    }
}
