using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Raid5Actors.Geometry;

namespace Raid5Actors.Tests.Md;

/// <summary>One member image an <see cref="MdImageBuilder"/> writes. Null properties take the builder's value.</summary>
internal sealed record MdDeviceSpec
{
    /// <summary>md's dev_number: this device's index into dev_roles (not its role).</summary>
    public required uint DevNumber { get; init; }

    public ulong? Events { get; init; }

    /// <summary>This device's own copy of dev_roles (a stale member still shows itself active, say).</summary>
    public ushort[]? DevRoles { get; init; }

    public ulong? ResyncOffsetSectors { get; init; }

    /// <summary>Feature bits added to the builder's feature map on this device only.</summary>
    public uint ExtraFeatures { get; init; }

    public ulong RecoveryOffsetSectors { get; init; }

    /// <summary>data_size beyond the array's size (md leaves such slack after a resize).</summary>
    public long ExtraDataSectors { get; init; }

    public byte[]? DeviceUuid { get; init; }

    /// <summary>devflags: 1 write-mostly, 2 failfast.</summary>
    public byte DevFlags { get; init; }
}

/// <summary>
/// Writes Linux md RAID5 member images from the on-disk format itself, independent of
/// Raid5Actors.Md: its own writer of struct mdp_superblock_1 (include/uapi/linux/raid/md_p.h), its
/// own calc_sb_1_csum, and its own data placement transliterated from raid5_compute_sector
/// (drivers/md/raid5.c), so a reader that agrees with it agrees with md, not with itself.
/// </summary>
/// <remarks>
/// Usage: <c>new MdImageBuilder(4, Raid5Layout.LeftSymmetric, 64 * 1024, rows * 128)</c>, adjust the
/// public properties (events per device, roles, dirty, level, minor version, ...), then
/// <see cref="WriteImages"/> with <see cref="CapacityBytes"/> bytes of logical content. Image i is
/// device <c>Devices[i]</c>; its data chunks and parity sit where md would put them for its role.
/// </remarks>
internal sealed class MdImageBuilder
{
    public const int kSectorBytes = 512;
    public const uint kMagic = 0xa92b4efc;
    public const ulong kMaxSector = ulong.MaxValue;
    public const ushort kRoleSpare = 0xffff;
    public const ushort kRoleFaulty = 0xfffe;
    public const ushort kRoleJournal = 0xfffd;

    // feature_map bits used by specs
    public const uint kFeatureBitmapOffset = 1;
    public const uint kFeatureRecoveryOffset = 2;
    public const uint kFeatureReshapeActive = 4;
    public const uint kFeatureBadBlocks = 8;
    public const uint kFeatureJournal = 512;

    public MdImageBuilder(int raidDisks, Raid5Layout layout, int chunkBytes, long deviceSectors)
    {
        RaidDisks = raidDisks;
        LayoutNumber = (int)layout;
        ChunkBytes = chunkBytes;
        DeviceSectors = deviceSectors;
        DevRoles = Enumerable.Range(0, raidDisks).Select(role => (ushort)role).ToArray();
        Devices = Enumerable.Range(0, raidDisks).Select(d => new MdDeviceSpec { DevNumber = (uint)d }).ToList();
        SetUuid = [0x3e, 0x5a, 0x11, 0x02, 0xc4, 0x7d, 0x90, 0x1b, 0x62, 0x0f, 0xaa, 0x55, 0x17, 0x88, 0xd2, 0x4c];
    }

    public int RaidDisks { get; set; }

    public int Level { get; set; } = 5;

    /// <summary>md's layout number (ALGORITHM_*); any value, so specs can write layouts md does not define.</summary>
    public int LayoutNumber { get; set; }

    public int ChunkBytes { get; set; }

    /// <summary>md's "size": sectors of each member the array uses.</summary>
    public long DeviceSectors { get; set; }

    /// <summary>2: superblock at byte 4096 (mdadm's default); 1: at byte 0; 0: 8 to 12 KiB before the end.</summary>
    public int MinorVersion { get; set; } = 2;

    /// <summary>Where data starts on every member, in sectors (mdadm uses 2048 and more; md needs it past the superblock).</summary>
    public long DataOffsetSectors { get; set; } = 2048;

    public byte[] SetUuid { get; set; }

    public string Name { get; set; } = "builder:md0";

    public long CreationUnixSeconds { get; set; } = 1_700_000_000;

    public long UpdateUnixSeconds { get; set; } = 1_700_003_600;

    public ulong Events { get; set; } = 20;

    /// <summary>MaxSector when the array stopped cleanly; a sector number when a resync is pending.</summary>
    public ulong ResyncOffsetSectors { get; set; } = kMaxSector;

    public uint FeatureMap { get; set; }

    public int BitmapOffsetSectors { get; set; }

    /// <summary>Reshape target fields, written with <see cref="kFeatureReshapeActive"/> only; null: unchanged.</summary>
    public int? NewLevel { get; set; }

    public int? NewLayoutNumber { get; set; }

    public int? NewChunkSectors { get; set; }

    public ulong ReshapePositionSectors { get; set; }

    public int DeltaDisks { get; set; }

    /// <summary>A reserved bad block log (mdadm reserves one by default), sectors relative to the superblock.</summary>
    public int BadBlockLogOffsetSectors { get; set; }

    public ushort BadBlockLogSectors { get; set; }

    /// <summary>The array's view of roles, indexed by dev_number; every device gets a copy unless it has its own.</summary>
    public ushort[] DevRoles { get; set; }

    /// <summary>Null: one past the highest dev_number, as mdadm writes it.</summary>
    public uint? MaxDev { get; set; }

    public List<MdDeviceSpec> Devices { get; }

    public bool Clean
    {
        get => ResyncOffsetSectors == kMaxSector;
        set => ResyncOffsetSectors = value ? kMaxSector : 0;
    }

    public int SectorsPerChunk => ChunkBytes / kSectorBytes;

    public long Rows => DeviceSectors / SectorsPerChunk;

    /// <summary>md's array size: size rounded down to whole chunks, times the data members.</summary>
    public long CapacityBytes => Rows * ChunkBytes * (RaidDisks - 1);

    public uint EffectiveMaxDev => MaxDev ?? (uint)Math.Max(DevRoles.Length, Devices.Max(d => (int)d.DevNumber) + 1);

    public static byte[] RandomContent(int seed, long bytes)
    {
        var content = new byte[bytes];
        new Random(seed).NextBytes(content);
        return content;
    }

    /// <summary>The role device <paramref name="device"/> holds by its own superblock, or null.</summary>
    public int? RoleOf(int device)
    {
        var spec = Devices[device];
        var roles = spec.DevRoles ?? DevRoles;
        var role = spec.DevNumber < roles.Length ? roles[spec.DevNumber] : kRoleSpare;
        return role < RaidDisks ? role : null;
    }

    public long DataOffsetBytes(int device) => (MinorVersion == 0 ? 0 : DataOffsetSectors) * kSectorBytes;

    public long SuperOffsetSectors(int device) => MinorVersion switch
    {
        2 => 8,
        1 => 0,
        _ => RoundUp(DataSizeSectors(device), 8),
    };

    public long ImageBytes(int device) => MinorVersion == 0
        ? (SuperOffsetSectors(device) + 16) * kSectorBytes
        : (DataOffsetSectors + DataSizeSectors(device)) * kSectorBytes;

    public long DataSizeSectors(int device) => DeviceSectors + Devices[device].ExtraDataSectors;

    /// <summary>
    /// Writes one image per device (<c>md-N.img</c> in <paramref name="folder"/>) and returns their
    /// paths: superblock, and each role's chunks of <paramref name="content"/> plus parity.
    /// </summary>
    public IReadOnlyList<string> WriteImages(string folder, ReadOnlySpan<byte> content)
    {
        if (content.Length != CapacityBytes)
            throw new ArgumentException($"content is {content.Length} bytes; the array holds {CapacityBytes}");
        var members = PlaceMembers(content);
        var paths = new List<string>();
        for (var device = 0; device < Devices.Count; device++)
        {
            var path = Path.Combine(folder, $"md-{device}.img");
            using (var file = new FileStream(path, FileMode.Create, FileAccess.Write))
            {
                file.SetLength(ImageBytes(device));
                if (RoleOf(device) is { } role)
                {
                    file.Position = DataOffsetBytes(device);
                    file.Write(members[role]);
                }

                file.Position = SuperOffsetSectors(device) * kSectorBytes;
                file.Write(BuildSuperblock(device));
            }

            paths.Add(path);
        }

        return paths;
    }

    /// <summary>Rewrites only the superblock of an image written before (after changing properties).</summary>
    public void RewriteSuperblock(string path, int device)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        file.Position = SuperOffsetSectors(device) * kSectorBytes;
        file.Write(BuildSuperblock(device));
    }

    /// <summary>The bytes of device <paramref name="device"/>'s superblock: 256 + 2 * max_dev, rounded up to a sector.</summary>
    public byte[] BuildSuperblock(int device)
    {
        var spec = Devices[device];
        var maxDev = EffectiveMaxDev;
        var sb = new byte[RoundUp(256 + (2 * maxDev), kSectorBytes)];
        var s = sb.AsSpan();

        // constant array information - 128 bytes
        BinaryPrimitives.WriteUInt32LittleEndian(s[0..], kMagic);                     // magic
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], 1);                          // major_version
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], FeatureMap | spec.ExtraFeatures); // feature_map
        SetUuid.CopyTo(s[16..32]);                                                    // set_uuid[16]
        Encoding.ASCII.GetBytes(Name).AsSpan(0, Math.Min(Name.Length, 32)).CopyTo(s[32..64]); // set_name[32]
        BinaryPrimitives.WriteUInt64LittleEndian(s[64..], (ulong)CreationUnixSeconds); // ctime
        BinaryPrimitives.WriteInt32LittleEndian(s[72..], Level);                      // level
        BinaryPrimitives.WriteInt32LittleEndian(s[76..], LayoutNumber);               // layout
        BinaryPrimitives.WriteUInt64LittleEndian(s[80..], (ulong)DeviceSectors);      // size
        BinaryPrimitives.WriteUInt32LittleEndian(s[88..], (uint)SectorsPerChunk);     // chunksize
        BinaryPrimitives.WriteUInt32LittleEndian(s[92..], (uint)RaidDisks);           // raid_disks
        BinaryPrimitives.WriteInt32LittleEndian(s[96..], BitmapOffsetSectors);        // bitmap_offset
        if ((FeatureMap & kFeatureReshapeActive) != 0)
        {
            BinaryPrimitives.WriteInt32LittleEndian(s[100..], NewLevel ?? Level);     // new_level
            BinaryPrimitives.WriteUInt64LittleEndian(s[104..], ReshapePositionSectors); // reshape_position
            BinaryPrimitives.WriteInt32LittleEndian(s[112..], DeltaDisks);            // delta_disks
            BinaryPrimitives.WriteInt32LittleEndian(s[116..], NewLayoutNumber ?? LayoutNumber); // new_layout
            BinaryPrimitives.WriteInt32LittleEndian(s[120..], NewChunkSectors ?? SectorsPerChunk); // new_chunk
        }

        // constant this-device information - 64 bytes
        BinaryPrimitives.WriteUInt64LittleEndian(s[128..], (ulong)(DataOffsetBytes(device) / kSectorBytes)); // data_offset
        BinaryPrimitives.WriteUInt64LittleEndian(s[136..], (ulong)DataSizeSectors(device)); // data_size
        BinaryPrimitives.WriteUInt64LittleEndian(s[144..], (ulong)SuperOffsetSectors(device)); // super_offset
        BinaryPrimitives.WriteUInt64LittleEndian(s[152..], spec.RecoveryOffsetSectors); // recovery_offset
        BinaryPrimitives.WriteUInt32LittleEndian(s[160..], spec.DevNumber);           // dev_number
        (spec.DeviceUuid ?? DefaultDeviceUuid(spec.DevNumber)).CopyTo(s[168..184]);   // device_uuid[16]
        s[184] = spec.DevFlags;                                                        // devflags
        BinaryPrimitives.WriteUInt16LittleEndian(s[186..], BadBlockLogSectors);       // bblog_size
        BinaryPrimitives.WriteInt32LittleEndian(s[188..], BadBlockLogOffsetSectors);  // bblog_offset

        // array state information - 64 bytes
        BinaryPrimitives.WriteUInt64LittleEndian(s[192..], (ulong)UpdateUnixSeconds); // utime
        BinaryPrimitives.WriteUInt64LittleEndian(s[200..], spec.Events ?? Events);    // events
        BinaryPrimitives.WriteUInt64LittleEndian(s[208..], spec.ResyncOffsetSectors ?? ResyncOffsetSectors); // resync_offset
        BinaryPrimitives.WriteUInt32LittleEndian(s[220..], maxDev);                   // max_dev

        // dev_roles[max_dev]: unlisted devices are spares
        var roles = spec.DevRoles ?? DevRoles;
        for (var d = 0; d < maxDev; d++)
            BinaryPrimitives.WriteUInt16LittleEndian(s[(256 + (2 * d))..], d < roles.Length ? roles[d] : kRoleSpare);

        BinaryPrimitives.WriteUInt32LittleEndian(s[216..], Checksum(sb, maxDev));     // sb_csum
        return sb;
    }

    /// <summary>calc_sb_1_csum, written out again: u32 sum over 256 + 2 * max_dev bytes, sb_csum as 0, folded once.</summary>
    public static uint Checksum(ReadOnlySpan<byte> sb, uint maxDev)
    {
        var copy = sb[..(int)(256 + (2 * maxDev))].ToArray();
        copy.AsSpan(216, 4).Clear();
        ulong sum = 0;
        var size = copy.Length;
        var at = 0;
        for (; size >= 4; size -= 4, at += 4)
            sum += BinaryPrimitives.ReadUInt32LittleEndian(copy.AsSpan(at));
        if (size == 2)
            sum += BinaryPrimitives.ReadUInt16LittleEndian(copy.AsSpan(at));
        return (uint)((sum & 0xffffffff) + (sum >> 32));
    }

    /// <summary>raid5_compute_sector for level 5: (parity disk, data disk, sector on that disk) of array sector <paramref name="rSector"/>.</summary>
    public static (int PdIdx, int DdIdx, long NewSector) ComputeSector(long rSector, int raidDisks, int sectorsPerChunk, int algorithm)
    {
        var dataDisks = raidDisks - 1;
        var chunkOffset = rSector % sectorsPerChunk;
        var chunkNumber = rSector / sectorsPerChunk;
        var stripe = chunkNumber / dataDisks;
        var ddIdx = (int)(chunkNumber % dataDisks);
        var stripe2 = stripe;
        int pdIdx;
        switch (algorithm)
        {
            case 0: // ALGORITHM_LEFT_ASYMMETRIC
                pdIdx = dataDisks - (int)(stripe2 % raidDisks);
                if (ddIdx >= pdIdx)
                    ddIdx++;
                break;
            case 1: // ALGORITHM_RIGHT_ASYMMETRIC
                pdIdx = (int)(stripe2 % raidDisks);
                if (ddIdx >= pdIdx)
                    ddIdx++;
                break;
            case 2: // ALGORITHM_LEFT_SYMMETRIC
                pdIdx = dataDisks - (int)(stripe2 % raidDisks);
                ddIdx = (pdIdx + 1 + ddIdx) % raidDisks;
                break;
            case 3: // ALGORITHM_RIGHT_SYMMETRIC
                pdIdx = (int)(stripe2 % raidDisks);
                ddIdx = (pdIdx + 1 + ddIdx) % raidDisks;
                break;
            case 4: // ALGORITHM_PARITY_0
                pdIdx = 0;
                ddIdx++;
                break;
            case 5: // ALGORITHM_PARITY_N
                pdIdx = dataDisks;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "raid5 algorithms are 0-5");
        }

        return (pdIdx, ddIdx, (stripe * sectorsPerChunk) + chunkOffset);
    }

    /// <summary>Each role's data area: its data chunks where raid5_compute_sector puts them, and parity as XOR of the row.</summary>
    public byte[][] PlaceMembers(ReadOnlySpan<byte> content)
    {
        var members = Enumerable.Range(0, RaidDisks).Select(_ => new byte[DeviceSectors * kSectorBytes]).ToArray();
        var parityOf = new int[Rows];
        var chunks = Rows * (RaidDisks - 1);
        for (long chunk = 0; chunk < chunks; chunk++)
        {
            var (pd, dd, sector) = ComputeSector(chunk * SectorsPerChunk, RaidDisks, SectorsPerChunk, LayoutNumber);
            content.Slice((int)(chunk * ChunkBytes), ChunkBytes).CopyTo(members[dd].AsSpan((int)(sector * kSectorBytes)));
            parityOf[sector / SectorsPerChunk] = pd;
        }

        for (long row = 0; row < Rows; row++)
        {
            var at = (int)(row * ChunkBytes);
            var parity = MemoryMarshal.Cast<byte, ulong>(members[parityOf[row]].AsSpan(at, ChunkBytes));
            for (var m = 0; m < RaidDisks; m++)
            {
                if (m == parityOf[row])
                    continue;
                var data = MemoryMarshal.Cast<byte, ulong>(members[m].AsSpan(at, ChunkBytes));
                for (var i = 0; i < parity.Length; i++)
                    parity[i] ^= data[i];
            }
        }

        return members;
    }

    private static byte[] DefaultDeviceUuid(uint devNumber) =>
        [0xd0, 0x0d, 0x00, (byte)devNumber, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, (byte)(0xc0 + devNumber)];

    private static long RoundUp(long value, long multiple) => (value + multiple - 1) / multiple * multiple;
}
