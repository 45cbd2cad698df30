// External data (shared/SECURITY.md): only files inside the model's folder, reached without symlinks, with one
// hard link, and only the bytes that are really there.
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/importer.h"
#include "onnx/onnx_builder.h"
#include "onnx/safe_file.h"
#include "test_util.h"

namespace normrt::test {
namespace {

std::string floats_bytes(int count, float start) {
  std::string s;
  for (int i = 0; i < count; ++i) {
    float v = start + static_cast<float>(i);
    s.append(reinterpret_cast<const char*>(&v), 4);
  }
  return s;
}

// root/            (a TempDir)
//   secret.bin     outside the model's folder
//   model/         the model's folder
//     weights.bin  16 floats 0..15
//     sub/w.bin    4 floats 100..103
class ExternalData : public ::testing::Test {
 protected:
  void SetUp() override {
    model_dir = root.file("model");
    ::mkdir(model_dir.c_str(), 0755);
    ::mkdir((model_dir + "/sub").c_str(), 0755);
    write_bytes(model_dir + "/weights.bin", floats_bytes(16, 0));
    write_bytes(model_dir + "/sub/w.bin", floats_bytes(4, 100));
    write_bytes(root.file("secret.bin"), floats_bytes(16, 900));
  }

  // A model whose initializer w [4] float lives in external data with these entries.
  std::string model_with(const std::vector<std::pair<std::string, std::string>>& entries) {
    ModelBuilder m;
    m.input("x", {"4"}).output("y");
    m.node("Identity", {"x"}, {"y"});
    set_external(m.initializer("w", {4}, {0, 0, 0, 0}), entries);
    std::string path = model_dir + "/model.onnx";
    write_bytes(path, m.bytes());
    return path;
  }

  Tensor import_w(const std::vector<std::pair<std::string, std::string>>& entries) {
    Graph g = import_onnx_file(model_with(entries));
    return g.initializers.at("w");
  }

  void expect_refused(const std::vector<std::pair<std::string, std::string>>& entries,
                      const std::vector<std::string>& parts) {
    std::string path = model_with(entries);
    std::vector<std::string> all = {"tensor 'w'"};
    all.insert(all.end(), parts.begin(), parts.end());
    expect_error_code([&] { import_onnx_file(path); }, ErrorCode::kInvalidModel, all);
  }

  TempDir root;
  std::string model_dir;
};

TEST_F(ExternalData, ReadsTheRightBytesFromInsideTheFolder) {
  Tensor w = import_w({{"location", "weights.bin"}, {"offset", "16"}, {"length", "16"}});
  EXPECT_EQ(w.data<float>()[0], 4.0f);
  EXPECT_EQ(w.data<float>()[3], 7.0f);
  w = import_w({{"location", "sub/w.bin"}});
  EXPECT_EQ(w.data<float>()[0], 100.0f);
  // ".." that stays inside the folder is fine: the kernel resolves it, no string check is involved.
  w = import_w({{"location", "sub/../weights.bin"}, {"offset", "48"}});
  EXPECT_EQ(w.data<float>()[0], 12.0f);
}

TEST_F(ExternalData, DotDotOutOfTheFolderIsRefused) {
  for (const char* location : {"../secret.bin", "sub/../../secret.bin", "./../secret.bin", "sub/../sub/../../secret.bin"})
    expect_refused({{"location", location}}, {"leaves the model's folder"});
}

TEST_F(ExternalData, AbsolutePathIsRefusedEvenWhenItPointsInside) {
  expect_refused({{"location", root.file("secret.bin")}}, {"absolute paths are not allowed"});
  expect_refused({{"location", model_dir + "/weights.bin"}}, {"absolute paths are not allowed"});
}

TEST_F(ExternalData, SymlinksAreRefused) {
  ASSERT_EQ(::symlink(root.file("secret.bin").c_str(), (model_dir + "/escape.bin").c_str()), 0);
  expect_refused({{"location", "escape.bin"}}, {"symbolic link"});
  ASSERT_EQ(::symlink("weights.bin", (model_dir + "/inside.bin").c_str()), 0);  // even to a file inside
  expect_refused({{"location", "inside.bin"}}, {"symbolic link"});
  ASSERT_EQ(::symlink(root.path().c_str(), (model_dir + "/updir").c_str()), 0);  // a folder on the way
  expect_refused({{"location", "updir/secret.bin"}}, {"symbolic link"});
  ASSERT_EQ(::symlink("sub", (model_dir + "/subdir").c_str()), 0);
  expect_refused({{"location", "subdir/w.bin"}}, {"symbolic link"});
}

TEST_F(ExternalData, FileWithTwoHardLinksIsRefused) {
  ASSERT_EQ(::link(root.file("secret.bin").c_str(), (model_dir + "/hard.bin").c_str()), 0);
  expect_refused({{"location", "hard.bin"}}, {"2 hard links"});
}

TEST_F(ExternalData, OffsetAndLengthMustLieInsideTheFile) {
  expect_refused({{"location", "weights.bin"}, {"offset", "64"}, {"length", "16"}}, {"past the end", "64-byte file"});
  expect_refused({{"location", "weights.bin"}, {"offset", "1000"}}, {"offset 1000", "past the end"});
  expect_refused({{"location", "weights.bin"}, {"offset", "56"}}, {"offset 56 + length 16", "past the end"});
  expect_refused({{"location", "weights.bin"}, {"offset", "9223372036854775807"}}, {"past the end"});
  expect_refused({{"location", "weights.bin"}, {"offset", "-4"}}, {"negative offset -4"});
  expect_refused({{"location", "weights.bin"}, {"offset", "-9223372036854775808"}}, {"negative offset"});
  expect_refused({{"location", "weights.bin"}, {"length", "-16"}}, {"negative length -16"});
  expect_refused({{"location", "weights.bin"}, {"length", "20"}}, {"length 20", "needs 16 bytes"});
  expect_refused({{"location", "weights.bin"}, {"length", "12"}}, {"length 12", "needs 16 bytes"});
}

TEST_F(ExternalData, MalformedEntriesAreRefused) {
  expect_refused({{"location", "weights.bin"}, {"offset", "12abc"}}, {"offset", "not an integer: '12abc'"});
  expect_refused({{"location", "weights.bin"}, {"offset", "99999999999999999999"}}, {"offset", "not an integer"});
  expect_refused({{"location", "weights.bin"}, {"length", ""}}, {"length", "not an integer"});
  expect_refused({{"offset", "0"}}, {"location is empty"});
  expect_refused({{"location", std::string("weights.bin\0../x", 16)}}, {"weights.bin\\x00../x", "NUL"});
}

TEST_F(ExternalData, MissingFileAndNonRegularFilesAreRefused) {
  expect_refused({{"location", "nothere.bin"}}, {"No such file"});
  expect_refused({{"location", "sub"}}, {"not a regular file"});
}

// A FIFO (which a model archive can carry) must be refused, not waited on forever.
TEST_F(ExternalData, FifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((model_dir + "/pipe.bin").c_str(), 0644), 0);
  expect_refused({{"location", "pipe.bin"}}, {"not a regular file"});
}

TEST_F(ExternalData, ModelLoadedFromBytesRefusesExternalData) {
  std::string path = model_with({{"location", "weights.bin"}});
  std::string bytes = read_bytes(path);
  ASSERT_NO_THROW(import_onnx_bytes(bytes, model_dir));
  expect_error_code([&] { import_onnx_bytes(bytes, ""); }, ErrorCode::kInvalidModel,
                    {"tensor 'w'", "loaded from memory", "load it from its file"});
}

TEST_F(ExternalData, ConstantNodeTensorsGetTheSameChecks) {
  ModelBuilder m;
  m.input("x", {"4"}).output("y");
  m.node("Identity", {"x"}, {"y"});
  auto& c = m.node("Constant", {}, {"c"}, "", "constant");
  auto* a = c.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  auto* t = a->mutable_t();
  t->set_name("ct");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(4);
  set_external(*t, {{"location", "../secret.bin"}});
  write_bytes(model_dir + "/constant.onnx", m.bytes());
  expect_error_code([&] { import_onnx_file(model_dir + "/constant.onnx"); }, ErrorCode::kInvalidModel,
                    {"tensor 'ct'", "leaves the model's folder"});
  expect_error_code([&] { import_onnx_bytes(m.bytes(), ""); }, ErrorCode::kInvalidModel, {"loaded from memory"});
}

TEST(SafeFile, ReadFileRefusesLargeFilesAndFifos) {
  TempDir dir;
  write_bytes(dir.file("f"), "0123456789");
  EXPECT_EQ(read_file(dir.file("f"), 10), "0123456789");
  expect_error_code([&] { read_file(dir.file("f"), 9); }, ErrorCode::kIo, {"10 bytes", "limit of 9"});
  ASSERT_EQ(::mkfifo(dir.file("pipe").c_str(), 0644), 0);
  expect_error_code([&] { read_file(dir.file("pipe"), 100); }, ErrorCode::kIo, {"not a regular file"});
}

TEST(SafeFile, ReadBeneathChecksOffsetArithmetic) {
  TempDir dir;
  write_bytes(dir.file("f"), "0123456789");
  EXPECT_EQ(read_beneath(dir.path(), "f", 3, 4, "t"), "3456");
  EXPECT_EQ(read_beneath(dir.path(), "f", 10, 0, "t"), "");
  EXPECT_EQ(read_beneath(dir.path(), "f", 4, -1, "t"), "456789");
  expect_error_code([&] { read_beneath(dir.path(), "f", 11, 0, "t"); }, ErrorCode::kInvalidModel, {"past the end"});
  expect_error_code([&] { read_beneath(dir.path(), "f", 9, 2, "t"); }, ErrorCode::kInvalidModel, {"past the end"});
  expect_error_code([&] { read_beneath(dir.path(), "f", 1, INT64_MAX, "t"); }, ErrorCode::kInvalidModel, {"past the end"});
  expect_error_code([&] { read_beneath(dir.path(), "f", INT64_MAX, INT64_MAX, "t"); }, ErrorCode::kInvalidModel,
                    {"past the end"});
}

}  // namespace
}  // namespace normrt::test
