using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Parity;

namespace Raid5Actors.Tests.Rebuild;

/// <summary>
/// Raw data areas of the members by role. After a recovery a role lives on another device than its
/// own index (a spare, a device added by hand), so the device of each role comes from the status.
/// Files can be read this way only once the array is stopped (it holds them open for writing).
/// </summary>
internal static class RoleImages
{
    /// <summary>The device index of every role, as the status reports it.</summary>
    public static int[] DevicesByRole(ArrayStatus status) =>
        status.Members.Where(m => m.Role >= 0).OrderBy(m => m.Role).Select(m => m.Device).ToArray();

    /// <summary>The data area (past the data offset) of one device.</summary>
    public static byte[] DataArea(IMemberStoreProvider provider, ArrayMetadata metadata, int device)
    {
        using var store = provider.Open(device);
        var area = new byte[metadata.MemberDataBytes];
        store.Read(metadata.DataOffsetBytes, area);
        return area;
    }

    /// <summary>The data areas of every role, read raw from the device that holds it.</summary>
    public static byte[][] Read(IMemberStoreProvider provider, ArrayMetadata metadata, int[] devicesByRole) =>
        devicesByRole.Select(device => DataArea(provider, metadata, device)).ToArray();

    /// <summary>What <paramref name="role"/> must hold: the XOR of every other role, row by row (data or parity alike).</summary>
    public static byte[] Reconstruct(byte[][] areas, int role)
    {
        var sources = areas.Where((_, r) => r != role).Select(a => (ReadOnlyMemory<byte>)a).ToArray();
        var rebuilt = new byte[areas[role].Length];
        XorParity.Compute(rebuilt, sources);
        return rebuilt;
    }

    /// <summary>Rows whose chunk in <paramref name="actual"/> differs from the one in <paramref name="expected"/>.</summary>
    public static List<long> RowsDiffering(ArrayGeometry geometry, byte[] actual, byte[] expected) =>
        Enumerable.Range(0, checked((int)geometry.RowCount))
            .Where(row => !actual.AsSpan(row * geometry.ChunkBytes, geometry.ChunkBytes)
                .SequenceEqual(expected.AsSpan(row * geometry.ChunkBytes, geometry.ChunkBytes)))
            .Select(row => (long)row)
            .ToList();

    /// <summary>Fails naming the first byte where a role's raw area is not what the others rebuild.</summary>
    public static void AssertHoldsReconstruction(byte[][] areas, int role, string what)
    {
        var expected = Reconstruct(areas, role);
        var first = expected.AsSpan().CommonPrefixLength(areas[role]);
        if (first < expected.Length)
            Assert.Fail($"{what}: role {role} differs from the XOR of the other roles at member data byte {first}");
    }
}
