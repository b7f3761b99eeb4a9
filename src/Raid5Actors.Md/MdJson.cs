using System.Text.Json;
using System.Text.Json.Serialization;

namespace Raid5Actors.Md;

/// <summary>The JSON shape of this library's reports: camelCase names, enums as camelCase strings, indented.</summary>
internal static class MdJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };
}

/// <summary>Writes and reads an <see cref="MdUuid"/> as mdadm prints it.</summary>
public sealed class MdUuidJsonConverter : JsonConverter<MdUuid>
{
    public override MdUuid Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        MdUuid.Parse(reader.GetString() ?? throw new JsonException("an md UUID must be a string"));

    public override void Write(Utf8JsonWriter writer, MdUuid value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}
