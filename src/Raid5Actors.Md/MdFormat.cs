using System.Buffers.Binary;

namespace Raid5Actors.Md;

/// <summary>
/// The v1.x md superblock as it lies on disk: <c>struct mdp_superblock_1</c> of
/// include/uapi/linux/raid/md_p.h. Every field is little-endian; offsets are bytes from the start
/// of the superblock. Names follow the C fields so the two can be read side by side.
/// </summary>
internal static class MdFormat
{
    public const uint kMagic = 0xa92b4efc;
    public const int kSectorBytes = 512;

    /// <summary>Fixed part; dev_roles (2 bytes per device) follows it.</summary>
    public const int kFixedBytes = 256;

    /// <summary>md reads 4 KiB and refuses a superblock that would not fit in it: max_dev at most (4096 - 256) / 2.</summary>
    public const int kReadBytes = 4096;
    public const int kMaxDevMax = (kReadBytes - kFixedBytes) / 2;

    /// <summary>resync_offset of a clean array (md's MaxSector).</summary>
    public const ulong kMaxSector = ulong.MaxValue;

    // Where each minor version keeps its superblock, in sectors (md.c super_1_load).
    public const long kV11SuperSector = 0;
    public const long kV12SuperSector = 8;

    // constant array information - 128 bytes
    public const int kMagicAt = 0;
    public const int kMajorVersionAt = 4;
    public const int kFeatureMapAt = 8;
    public const int kPad0At = 12;
    public const int kSetUuidAt = 16;
    public const int kSetNameAt = 32;
    public const int kSetNameBytes = 32;
    public const int kCtimeAt = 64;
    public const int kLevelAt = 72;
    public const int kLayoutAt = 76;
    public const int kSizeAt = 80;
    public const int kChunkSizeAt = 88;
    public const int kRaidDisksAt = 92;
    public const int kBitmapOffsetAt = 96; // also ppl.offset (s16) at 96 and ppl.size (u16) at 98
    public const int kNewLevelAt = 100;
    public const int kReshapePositionAt = 104;
    public const int kDeltaDisksAt = 112;
    public const int kNewLayoutAt = 116;
    public const int kNewChunkAt = 120;
    public const int kNewOffsetAt = 124;

    // constant this-device information - 64 bytes
    public const int kDataOffsetAt = 128;
    public const int kDataSizeAt = 136;
    public const int kSuperOffsetAt = 144;
    public const int kRecoveryOffsetAt = 152;
    public const int kDevNumberAt = 160;
    public const int kCorrectedReadsAt = 164;
    public const int kDeviceUuidAt = 168;
    public const int kDevFlagsAt = 184;
    public const int kBadBlockShiftAt = 185;
    public const int kBadBlockSizeAt = 186;
    public const int kBadBlockOffsetAt = 188;

    // array state information - 64 bytes
    public const int kUtimeAt = 192;
    public const int kEventsAt = 200;
    public const int kResyncOffsetAt = 208;
    public const int kChecksumAt = 216;
    public const int kMaxDevAt = 220;
    public const int kPad3At = 224;
    public const int kPad3Bytes = 32;
    public const int kDevRolesAt = 256;

    /// <summary>ctime and utime: low 40 bits seconds, top 24 bits microseconds.</summary>
    public const ulong kTimeSecondsMask = (1UL << 40) - 1;

    // dev_roles values other than a role number (md_p.h MD_DISK_ROLE_*).
    public const ushort kRoleSpare = 0xffff;
    public const ushort kRoleFaulty = 0xfffe;
    public const ushort kRoleJournal = 0xfffd;

    /// <summary>Values below this are role numbers (md's MD_DISK_ROLE_MAX).</summary>
    public const ushort kRoleMax = 0xff00;

    // devflags bits
    public const byte kWriteMostly = 1;
    public const byte kFailFast = 2;

    /// <summary>Sector offset of a v1.0 superblock: 8 to 12 KiB before the end, 4 KiB aligned.</summary>
    public static long V10SuperSector(long imageBytes) => ((imageBytes / kSectorBytes) - 16) & ~7L;

    /// <summary>
    /// md's calc_sb_1_csum: the sum of the little-endian u32 words of the first 256 + 2 * max_dev bytes,
    /// with sb_csum counted as 0 (and a trailing u16 when max_dev is odd), folded once to 32 bits.
    /// </summary>
    public static uint Checksum(ReadOnlySpan<byte> superblock, uint maxDev)
    {
        var bytes = kFixedBytes + (checked((int)maxDev) * 2);
        ulong sum = 0;
        var at = 0;
        for (; at + 4 <= bytes; at += 4)
        {
            if (at != kChecksumAt)
                sum += BinaryPrimitives.ReadUInt32LittleEndian(superblock[at..]);
        }

        if (bytes - at == 2)
            sum += BinaryPrimitives.ReadUInt16LittleEndian(superblock[at..]);

        // The C code keeps the fold in a u32, so a carry out of it is dropped.
        return unchecked((uint)((sum & 0xffffffff) + (sum >> 32)));
    }
}

/// <summary>feature_map bits of a v1.x superblock (md_p.h MD_FEATURE_*).</summary>
[Flags]
public enum MdFeatures : uint
{
    None = 0,
    BitmapOffset = 1,
    RecoveryOffset = 2,
    ReshapeActive = 4,
    BadBlocks = 8,
    Replacement = 16,
    ReshapeBackwards = 32,
    NewOffset = 64,
    RecoveryBitmap = 128,
    Clustered = 256,
    Journal = 512,
    Ppl = 1024,
    MultiplePpls = 2048,
    Raid0Layout = 4096,

    /// <summary>Every bit md knows; a superblock with any other bit set is refused.</summary>
    All = BitmapOffset | RecoveryOffset | ReshapeActive | BadBlocks | Replacement | ReshapeBackwards | NewOffset
        | RecoveryBitmap | Clustered | Journal | Ppl | MultiplePpls | Raid0Layout,
}
