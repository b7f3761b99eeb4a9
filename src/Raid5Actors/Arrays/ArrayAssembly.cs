using Raid5Actors.Configuration;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;

namespace Raid5Actors.Arrays;

/// <summary>What to create: member count, size and geometry.</summary>
/// <remarks>
/// <c>MemberBytes</c> is the size of each member store, superblock area included; 0 means "use the
/// blank member stores that already exist" (files the user made, or memory added with
/// <see cref="MemoryMemberStoreProvider.AddBlank"/>), which must then all be the same size.
/// Null chunk, layout and bitmap chunk take the defaults of <c>raid5.create</c> and <c>raid5.bitmap</c>.
/// </remarks>
/// <c>Spares</c> hot spares are created beside the members (devices <c>Members</c>..<c>Members+Spares-1</c>).
public sealed record Raid5CreateOptions(int Members, long MemberBytes, int? ChunkBytes = null, Raid5Layout? Layout = null, long? BitmapChunkBytes = null, int Spares = 0);

/// <summary>
/// Finds, checks and formats member stores before any actor starts (blocking I/O, once per open).
/// Everything that can be refused is checked before the first byte is written.
/// </summary>
public static class ArrayAssembly
{
    /// <summary>Checks a create request, then creates (or takes over) the members and writes their superblocks.</summary>
    public static (ArrayMetadata Metadata, IReadOnlyList<OpenedMember> Members) Create(
        string folder, string databasePath, IMemberStoreProvider provider, Raid5CreateOptions create, Raid5Settings settings)
    {
        var memberCount = create.Members;
        if (memberCount is < ArrayGeometry.kMinMembers or > ArrayGeometry.kMaxMembers)
            throw new Raid5GeometryException(
                $"a RAID5 array needs {ArrayGeometry.kMinMembers} to {ArrayGeometry.kMaxMembers} members, not {memberCount}");
        if (create.Spares is < 0 or > kMaxDevices - ArrayGeometry.kMaxMembers)
            throw new Raid5GeometryException($"spares must be between 0 and {kMaxDevices - ArrayGeometry.kMaxMembers}, not {create.Spares}");
        if (File.Exists(databasePath))
            throw new Raid5OpenException($"{folder} already holds an array ({databasePath} exists); open it or choose another folder");
        var dataOffsetBytes = MemberSuperblock.kDefaultDataOffsetBytes;
        var devices = memberCount + create.Spares;
        var memberBytes = create.MemberBytes > 0 ? create.MemberBytes : ExistingBlankSize(provider, devices);
        var chunkBytes = create.ChunkBytes ?? settings.DefaultChunkBytes;
        if (memberBytes < dataOffsetBytes + chunkBytes)
            throw new Raid5GeometryException(
                $"members of {memberBytes} bytes are too small: each needs {dataOffsetBytes} bytes for its superblock area "
                + $"plus at least one chunk of {chunkBytes} bytes ({dataOffsetBytes + chunkBytes} bytes in all)");
        var geometry = ArrayGeometry.Create(
            memberCount, chunkBytes, create.Layout ?? settings.DefaultLayout,
            memberBytes - dataOffsetBytes);
        if (create.MemberBytes > 0)
        {
            var existing = Enumerable.Range(0, devices).Where(provider.Exists).Select(provider.Describe).ToList();
            if (existing.Count > 0)
                throw new Raid5OpenException($"{folder} already holds member stores ({string.Join(", ", existing)}); refusing to overwrite them");
        }
        var bitmapChunkBytes = create.BitmapChunkBytes ?? settings.BitmapChunkBytes;
        if (bitmapChunkBytes < geometry.ChunkBytes || (bitmapChunkBytes & (bitmapChunkBytes - 1)) != 0)
            throw new Raid5GeometryException(
                $"the bitmap chunk ({bitmapChunkBytes} bytes) must be a power of two no smaller than the array chunk ({geometry.ChunkBytes} bytes)");

        var metadata = ArrayMetadata.New(
            memberCount, geometry.ChunkBytes, geometry.Layout, geometry.MemberDataBytes, dataOffsetBytes, bitmapChunkBytes, create.Spares);
        var members = new List<OpenedMember>();
        try
        {
            for (var device = 0; device < devices; device++)
            {
                var store = create.MemberBytes > 0 ? provider.Create(device, memberBytes) : provider.Open(device);
                var superblock = metadata.SuperblockFor(device < memberCount ? device : -1);
                members.Add(new OpenedMember(device, store, superblock));
                superblock.WriteTo(store);
                store.Flush();
            }
        }
        catch
        {
            foreach (var member in members)
                member.Store.Dispose();
            throw;
        }
        return (metadata, members);
    }

    /// <summary>Device indexes a folder may hold: members and spares.</summary>
    public const int kMaxDevices = 64;

    /// <summary>Opens every device found and reads its superblock; the array actor matches them to its metadata.</summary>
    public static IReadOnlyList<OpenedMember> Open(string folder, string databasePath, IMemberStoreProvider provider)
    {
        if (!File.Exists(databasePath))
            throw new Raid5OpenException($"{folder} holds no array: {databasePath} is missing");
        var devices = new List<OpenedMember>();
        try
        {
            for (var device = 0; device < kMaxDevices; device++)
            {
                if (!provider.Exists(device))
                    continue;
                var store = provider.Open(device);
                try
                {
                    devices.Add(new OpenedMember(device, store, MemberSuperblock.ReadFrom(store)));
                }
                catch (IOException e) when (e is not Raid5MemberException)
                {
                    // A device that cannot even be read is missing for the array (AllowDegraded runs without it).
                    store.Dispose();
                    Serilog.Log.Warning("device {Device} cannot be read and is left out: {Error}", provider.Describe(device), e.Message);
                }
            }
            if (!devices.Any(d => d.Superblock is not null))
                throw new Raid5OpenException($"{folder} holds no member with a Raid5Actors superblock");
            return devices;
        }
        catch
        {
            foreach (var device in devices)
                device.Store.Dispose();
            throw;
        }
    }

    /// <summary>Opens a device to add to a running array: a new blank one, or one that was a member.</summary>
    public static OpenedMember OpenForAdd(IMemberStoreProvider provider, int device, long createBytes)
    {
        var store = provider.Exists(device) ? provider.Open(device) : provider.Create(device, createBytes);
        try
        {
            return new OpenedMember(device, store, MemberSuperblock.ReadFrom(store));
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    private static long ExistingBlankSize(IMemberStoreProvider provider, int devices)
    {
        var sizes = new List<(string Name, long Bytes)>();
        for (var role = 0; role < devices; role++)
        {
            if (!provider.Exists(role))
                throw new Raid5MemberException($"member {provider.Describe(role)} is missing; give a member size to create it");
            using var store = provider.Open(role);
            var superblock = MemberSuperblock.ReadFrom(store);
            if (superblock is not null)
                throw new Raid5OpenException($"member {store.Name} already belongs to array {superblock.ArrayId}; refusing to overwrite it");
            sizes.Add((store.Name, store.LengthBytes));
        }
        if (sizes.Select(s => s.Bytes).Distinct().Count() > 1)
            throw new Raid5MemberException(
                "members of different sizes: " + string.Join(", ", sizes.Select(s => $"{s.Name} is {s.Bytes} bytes")));
        return sizes[0].Bytes;
    }
}
